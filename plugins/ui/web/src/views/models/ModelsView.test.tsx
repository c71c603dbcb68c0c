import { act, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { apiError, json, stubFetch } from '../common/fetchStub';
import { ModelsView } from './ModelsView';
import { POLL_INTERVAL_MS } from './useDownloads';

const entry = {
  id: 'tiny',
  name: 'Tiny net',
  category: 'Classifiers',
  source: { type: 'url', url: 'http://127.0.0.1:9/tiny.pt' },
  installed: false,
  filename: null,
  size: null,
};

beforeEach(() => {
  vi.useFakeTimers({ shouldAdvanceTime: true });
});
afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

async function tick() {
  await act(async () => {
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
  });
}

describe('ModelsView', () => {
  it('shows download progress from the polled job status and refreshes when it completes', async () => {
    let installed = false;
    const statuses = [
      { status: 'running', progress: 42, message: 'Downloading... 42%' },
      { status: 'running', progress: 99, message: 'Downloading... 99%' },
      { status: 'completed', progress: 100, message: 'Completed' },
    ];
    const server = stubFetch([
      ['GET', '/api/models', () => json([installed ? { ...entry, installed: true, filename: 'Classifiers/tiny.pt', size: 2048 } : entry])],
      ['POST', '/api/models/download/tiny', () => json({ success: true, job_id: 'ab12', model_id: 'tiny', status: 'running' })],
      [
        'GET',
        '/api/downloads/status/ab12',
        () => {
          const next = statuses.shift()!;
          if (next.status === 'completed') installed = true;
          return json({ success: true, job_id: 'ab12', model_id: 'tiny', bytes_done: 0, bytes_total: null, filename: null, ...next });
        },
      ],
    ]);

    render(<ModelsView />);
    const button = await screen.findByTestId('model-download-tiny');
    await act(async () => button.click());
    expect(server.of('POST', '/api/models/download/tiny')).toHaveLength(1);

    await tick();
    expect(screen.getByTestId('model-progress-tiny')).toHaveAttribute('value', '42');
    expect(screen.getByTestId('model-item-tiny')).toHaveTextContent('Downloading... 42%');

    await tick();
    expect(screen.getByTestId('model-progress-tiny')).toHaveAttribute('value', '99');

    await tick();
    expect(screen.getByTestId('model-progress-tiny')).toHaveAttribute('value', '100');
    // The listing is fetched again and now shows the install.
    expect(await screen.findByText(/installed · Classifiers\/tiny\.pt/)).toBeInTheDocument();
    expect(screen.queryByTestId('model-download-tiny')).toBeNull();
    expect(screen.getByTestId('model-delete-tiny')).toBeInTheDocument();
    expect(server.of('GET', '/api/downloads/status/ab12')).toHaveLength(3);

    // Polling stopped with the terminal status.
    await tick();
    expect(server.of('GET', '/api/downloads/status/ab12')).toHaveLength(3);
  });

  it('shows a failed job with the server message', async () => {
    stubFetch([
      ['GET', '/api/models', () => json([entry])],
      ['POST', '/api/models/download/tiny', () => json({ success: true, job_id: 'cd34', model_id: 'tiny', status: 'running' })],
      [
        'GET',
        '/api/downloads/status/cd34',
        () => json({ success: true, job_id: 'cd34', model_id: 'tiny', status: 'error', progress: 0, message: 'HTTP 404 from http://127.0.0.1:9/tiny.pt', bytes_done: 0, bytes_total: null, filename: null }),
      ],
    ]);
    render(<ModelsView />);
    const button = await screen.findByTestId('model-download-tiny');
    await act(async () => button.click());
    await tick();
    expect(screen.getByTestId('model-item-tiny')).toHaveTextContent('HTTP 404 from http://127.0.0.1:9/tiny.pt');
    expect(screen.getByTestId('model-download-tiny')).toBeEnabled();
  });

  it('deletes an installed file by its relpath and shows API errors inline', async () => {
    const server = stubFetch([
      ['GET', '/api/models', () => json([{ ...entry, id: 'a b.pt', name: 'a b.pt', source: { type: 'upload' }, installed: true, filename: 'My Models/a b.pt', size: 10 }])],
      ['DELETE', '/api/models/My%20Models/a%20b.pt', () => apiError(404, 'file_not_found', 'File not found: My Models/a b.pt')],
    ]);
    render(<ModelsView />);
    const del = await screen.findByTestId('model-delete-a b.pt');
    await act(async () => del.click());
    expect(await screen.findByTestId('model-error')).toHaveTextContent('File not found: My Models/a b.pt');
    expect(server.of('DELETE', '/api/models/My%20Models/a%20b.pt')).toHaveLength(1);
    expect(server.of('GET', '/api/models')).toHaveLength(2);
  });
});
