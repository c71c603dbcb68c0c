import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/http';
import { apiError, formText, json, stubFetch } from '../views/common/fetchStub';
import { chunkCount, uploadChunked } from './chunked';

const opts = { sessionId: 's_1', nodeId: 'n7', nodeName: 'LoadAudio', chunkSize: 5, retryDelayMs: 0 };

function uploadServer(total: number, failFirstOf?: { index: number; with: () => Response | Promise<Response> }) {
  const seen = new Set<number>();
  let failed = false;
  return stubFetch([
    [
      'POST',
      '/api/upload',
      async ({ init }) => {
        const form = init.body as FormData;
        const index = Number(form.get('chunkIndex'));
        if (failFirstOf && failFirstOf.index === index && !failed) {
          failed = true;
          return failFirstOf.with();
        }
        seen.add(index);
        return seen.size === total
          ? json({ success: true, completed: true, filePath: '/temp/uploads/s_1/LoadAudio_n7/voice.wav', size: 12 })
          : json({ success: true, completed: false, received: seen.size, totalChunks: total });
      },
    ],
  ]);
}

afterEach(() => vi.unstubAllGlobals());

describe('uploadChunked', () => {
  it('counts chunks, with one for an empty file', () => {
    expect(chunkCount(12, 5)).toBe(3);
    expect(chunkCount(10, 5)).toBe(2);
    expect(chunkCount(0, 5)).toBe(1);
  });

  it('sends sequential chunks with the form fields of §2.12.1 and reports progress', async () => {
    const server = uploadServer(3);
    const file = new File(['abcdefghijkl'], 'voice.wav', { type: 'audio/wav' });
    const progress: Array<[number, number]> = [];
    const result = await uploadChunked(file, { ...opts, onProgress: (d, t) => progress.push([d, t]) });

    expect(result).toEqual({ filePath: '/temp/uploads/s_1/LoadAudio_n7/voice.wav', size: 12 });
    const posts = server.of('POST', '/api/upload');
    expect(posts).toHaveLength(3);
    const bodies = await Promise.all(
      posts.map(async ({ init }) => {
        const form = init.body as FormData;
        expect((init.headers as Record<string, string>)['X-Nodeloom-Token']).toBe('test-token');
        return {
          chunk: await formText(form.get('file')),
          fileName: (form.get('file') as File).name,
          filename: form.get('filename'),
          chunkIndex: form.get('chunkIndex'),
          totalChunks: form.get('totalChunks'),
          sessionId: form.get('sessionId'),
          nodeId: form.get('nodeId'),
          nodeName: form.get('nodeName'),
        };
      }),
    );
    expect(bodies.map((b) => b.chunk)).toEqual(['abcde', 'fghij', 'kl']);
    expect(bodies.map((b) => b.chunkIndex)).toEqual(['0', '1', '2']);
    for (const b of bodies) {
      expect(b).toMatchObject({ fileName: 'voice.wav', filename: 'voice.wav', totalChunks: '3', sessionId: 's_1', nodeId: 'n7', nodeName: 'LoadAudio' });
    }
    expect(progress).toEqual([
      [0, 12],
      [5, 12],
      [10, 12],
      [12, 12],
    ]);
  });

  it('retries a chunk once after a network failure', async () => {
    const server = uploadServer(3, {
      index: 1,
      with: () => Promise.reject(new TypeError('Failed to fetch')),
    });
    const file = new File(['abcdefghijkl'], 'voice.wav');
    const result = await uploadChunked(file, opts);
    expect(result.filePath).toContain('voice.wav');
    const indices = server.of('POST', '/api/upload').map((c) => (c.init.body as FormData).get('chunkIndex'));
    expect(indices).toEqual(['0', '1', '1', '2']);
  });

  it('retries a chunk once after a 5xx answer', async () => {
    const server = uploadServer(3, { index: 2, with: () => apiError(503, 'unavailable', 'busy') });
    await uploadChunked(new File(['abcdefghijkl'], 'voice.wav'), opts);
    expect(server.of('POST', '/api/upload')).toHaveLength(4);
  });

  it('gives up after the single retry', async () => {
    const server = stubFetch([['POST', '/api/upload', () => Promise.reject(new TypeError('Failed to fetch'))]]);
    await expect(uploadChunked(new File(['abcdefghijkl'], 'voice.wav'), opts)).rejects.toThrow('Failed to fetch');
    expect(server.of('POST', '/api/upload')).toHaveLength(2);
  });

  it('does not retry a client error and surfaces the server message', async () => {
    const server = stubFetch([
      ['POST', '/api/upload', () => apiError(409, 'upload_conflict', 'Upload of voice.wav is in progress with 4 chunks')],
    ]);
    const failure = uploadChunked(new File(['abcdefghijkl'], 'voice.wav'), opts);
    await expect(failure).rejects.toBeInstanceOf(ApiError);
    await expect(failure).rejects.toMatchObject({ code: 'upload_conflict', message: 'Upload of voice.wav is in progress with 4 chunks' });
    expect(server.of('POST', '/api/upload')).toHaveLength(1);
  });

  it('uploads an empty file as one empty chunk', async () => {
    const server = uploadServer(1);
    await uploadChunked(new File([], 'empty.wav'), opts);
    const [only] = server.of('POST', '/api/upload');
    const form = only.init.body as FormData;
    expect(form.get('totalChunks')).toBe('1');
    expect(await formText(form.get('file'))).toBe('');
  });

  it('fails when the last chunk is not reported as completed', async () => {
    stubFetch([['POST', '/api/upload', () => json({ success: true, completed: false, received: 1, totalChunks: 3 })]]);
    await expect(uploadChunked(new File(['abcdefghijkl'], 'voice.wav'), opts)).rejects.toThrow(/did not complete/);
  });
});
