import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, stubFetch, stubXhr } from '../views/common/fetchStub';
import { ImageFileSelect } from './ImageFileSelect';
import { ModelFileSelect } from './ModelFileSelect';
import { UploadWidget } from './UploadWidget';

afterEach(() => vi.unstubAllGlobals());

describe('ModelFileSelect', () => {
  it('offers the files of one category', async () => {
    const server = stubFetch([['GET', '/api/models/Object%20Detection', () => json([{ name: 'yolox_s', path: 'Object Detection/yolox_s.pth' }])]]);
    const onChange = vi.fn();
    render(<ModelFileSelect value="" onChange={onChange} category="Object Detection" />);
    const option = await screen.findByRole('option', { name: 'Object Detection/yolox_s.pth' });
    await userEvent.selectOptions(screen.getByLabelText('model file'), option);
    expect(onChange).toHaveBeenCalledWith('Object Detection/yolox_s.pth');
    expect(server.calls).toHaveLength(1);
  });

  it('offers installed files of the whole listing and keeps a missing value visible', async () => {
    stubFetch([
      [
        'GET',
        '/api/models',
        () =>
          json([
            { id: 'reg', name: 'Reg', category: 'C', source: { type: 'url', url: 'x' }, installed: false, filename: null, size: null },
            { id: 'mnist.pt', name: 'mnist.pt', category: 'Uploaded', source: { type: 'upload' }, installed: true, filename: 'mnist.pt', size: 3 },
          ]),
      ],
    ]);
    render(<ModelFileSelect value="gone.pt" onChange={() => {}} />);
    await screen.findByRole('option', { name: 'mnist.pt' });
    const labels = screen.getAllByRole('option').map((o) => o.textContent);
    expect(labels).toEqual(['(none)', 'gone.pt (missing)', 'mnist.pt']);
  });
});

describe('ImageFileSelect', () => {
  it('previews the chosen image and uploads a new one', async () => {
    stubFetch([['GET', '/api/images', () => json([{ filename: 'a.png', size: 1 }])]]);
    stubXhr(() => ({ status: 200, body: { filename: 'b.png', size: 1 } }));
    const onChange = vi.fn();
    const { container } = render(<ImageFileSelect value="a.png" onChange={onChange} />);
    await screen.findByRole('option', { name: 'a.png' });
    expect(screen.getByAltText('a.png')).toHaveAttribute('src', '/api/images/download/a.png');
    const input = container.querySelector('input[type=file]') as HTMLInputElement;
    await userEvent.upload(input, new File(['x'], 'b.png', { type: 'image/png' }));
    await waitFor(() => expect(onChange).toHaveBeenCalledWith('b.png'));
  });
});

describe('UploadWidget', () => {
  it('uploads through the chunked route and reports the file path', async () => {
    const server = stubFetch([['POST', '/api/upload', () => json({ success: true, completed: true, filePath: '/temp/uploads/s/LoadAudio_n1/a.wav', size: 3 })]]);
    const onChange = vi.fn();
    render(<UploadWidget value="" onChange={onChange} nodeId="n1" nodeName="LoadAudio" accept=".wav" />);
    const input = screen.getByLabelText('upload file');
    expect(input).toHaveAttribute('accept', '.wav');
    await userEvent.upload(input, new File(['abc'], 'a.wav', { type: 'audio/wav' }));
    await waitFor(() => expect(onChange).toHaveBeenCalledWith('/temp/uploads/s/LoadAudio_n1/a.wav'));
    const form = server.of('POST', '/api/upload')[0].init.body as FormData;
    expect(form.get('nodeId')).toBe('n1');
    expect(form.get('nodeName')).toBe('LoadAudio');
  });
});
