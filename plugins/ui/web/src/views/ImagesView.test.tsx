import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, stubFetch, stubXhr } from './common/fetchStub';
import { ImagesView } from './ImagesView';

afterEach(() => vi.unstubAllGlobals());

describe('ImagesView', () => {
  it('uploads with the token, shows thumbnails and deletes', async () => {
    let images = [{ filename: 'cats/tabby.png', size: 2048 }];
    const server = stubFetch([
      ['GET', '/api/images', () => json(images)],
      [
        'DELETE',
        '/api/images/cats/tabby.png',
        () => {
          images = images.filter((i) => i.filename !== 'cats/tabby.png');
          return json({ message: 'Deleted cats/tabby.png' });
        },
      ],
    ]);
    const sent = stubXhr((_url, form) => {
      const file = form.get('file') as File;
      images = [...images, { filename: file.name, size: file.size }];
      return { status: 200, body: { filename: file.name, size: file.size } };
    });
    render(<ImagesView />);
    const item = await screen.findByTestId('image-item-cats/tabby.png');
    expect(item.querySelector('img')).toHaveAttribute('src', '/api/images/download/cats/tabby.png');

    await userEvent.upload(screen.getByTestId('image-upload-input'), new File(['png'], 'dog.png', { type: 'image/png' }));
    expect(await screen.findByTestId('image-item-dog.png')).toBeInTheDocument();
    expect(sent[0].url).toBe('/api/images/upload');
    expect(sent[0].headers['X-Nodeloom-Token']).toBe('test-token');

    await userEvent.click(screen.getByTestId('image-delete-cats/tabby.png'));
    await waitFor(() => expect(screen.queryByTestId('image-item-cats/tabby.png')).toBeNull());
    expect(server.of('DELETE', '/api/images/cats/tabby.png')).toHaveLength(1);
  });
});
