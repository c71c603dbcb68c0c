// Chunked upload of api.md §2.12.1: sequential chunks, each retried once, so a large media file
// survives a dropped connection without starting over and never hits the per-request size limit.
import { ApiError, apiSend } from '../api/http';

export const DEFAULT_CHUNK_SIZE = 5 * 1024 * 1024;
const DEFAULT_RETRY_DELAY_MS = 500;

export interface ChunkedUploadOptions {
  sessionId: string;
  nodeId: string;
  nodeName: string;
  chunkSize?: number;
  onProgress?: (done: number, total: number) => void;
  /** Pause before the single retry of a failed chunk. */
  retryDelayMs?: number;
}

export interface ChunkedUploadResult {
  filePath: string;
  size: number;
}

interface ChunkReply {
  success?: boolean;
  completed?: boolean;
  received?: number;
  totalChunks?: number;
  filePath?: string;
  size?: number;
}

export function chunkCount(size: number, chunkSize: number): number {
  // An empty file is still one (empty) chunk: the server needs a request to create it.
  return Math.max(1, Math.ceil(size / chunkSize));
}

/** Failures that another attempt can fix; a 4xx answer would only repeat itself. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof ApiError)) return true;
  return error.status === 0 || error.status === 408 || error.status === 429 || error.status >= 500;
}

function chunkForm(file: File, index: number, total: number, chunk: Blob, opts: ChunkedUploadOptions): FormData {
  const form = new FormData();
  form.append('file', chunk, file.name);
  form.append('filename', file.name);
  form.append('chunkIndex', String(index));
  form.append('totalChunks', String(total));
  form.append('sessionId', opts.sessionId);
  form.append('nodeId', opts.nodeId);
  form.append('nodeName', opts.nodeName);
  return form;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sendChunk(form: () => FormData, retryDelayMs: number): Promise<ChunkReply> {
  try {
    return await apiSend<ChunkReply>('POST', '/api/upload', form());
  } catch (error) {
    if (!isRetryable(error)) throw error;
    if (retryDelayMs > 0) await sleep(retryDelayMs);
    // The server replaces a repeated chunkIndex, so resending is safe.
    return apiSend<ChunkReply>('POST', '/api/upload', form());
  }
}

export async function uploadChunked(file: File, opts: ChunkedUploadOptions): Promise<ChunkedUploadResult> {
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize <= 0) throw new Error(`Invalid chunk size: ${chunkSize}`);
  const total = chunkCount(file.size, chunkSize);
  const retryDelayMs = opts.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  opts.onProgress?.(0, file.size);

  let last: ChunkReply | null = null;
  for (let index = 0; index < total; index += 1) {
    const start = index * chunkSize;
    const end = Math.min(start + chunkSize, file.size);
    const chunk = file.slice(start, end);
    last = await sendChunk(() => chunkForm(file, index, total, chunk, opts), retryDelayMs);
    opts.onProgress?.(end, file.size);
  }

  if (!last?.completed || typeof last.filePath !== 'string') {
    throw new Error(`Upload of ${file.name} did not complete (server received ${last?.received ?? '?'} of ${total} chunks)`);
  }
  return { filePath: last.filePath, size: typeof last.size === 'number' ? last.size : file.size };
}
