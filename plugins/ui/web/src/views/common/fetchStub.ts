// Test helper: a routed fake `fetch` that records every call. Not imported by application code.
import { vi } from 'vitest';
import { resetTokenCache } from '../../api/http';

export interface Call {
  method: string;
  url: string;
  init: RequestInit;
}

type Reply = Response | Promise<Response>;
type Handler = (call: Call) => Reply;

export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

export function apiError(status: number, code: string, detail: string, extra: Record<string, unknown> = {}): Response {
  return json({ detail, code, ...extra }, status);
}

export function stubFetch(routes: Array<[string, string | RegExp, Handler]>) {
  resetTokenCache();
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.toString() : input.url;
    const method = (init.method ?? 'GET').toUpperCase();
    const call = { method, url, init };
    if (url === '/api/auth/bootstrap') return json({ token: 'test-token' });
    calls.push(call);
    for (const [m, match, handler] of routes) {
      const path = url.split('?')[0];
      const hit = typeof match === 'string' ? path === match : match.test(url);
      if (m === method && hit) return handler(call);
    }
    return apiError(404, 'not_found', `unrouted ${method} ${url}`);
  });
  vi.stubGlobal('fetch', fetchMock);
  return { calls, fetchMock, of: (method: string, path: string) => calls.filter((c) => c.method === method && c.url.split('?')[0] === path) };
}

/** A canvas 2-D context that records what was painted, since jsdom has none. */
export function stubCanvas() {
  const painted: Array<{ x: number; y: number; w: number; h: number; fill: string }> = [];
  const ctx = {
    fillStyle: '',
    clearRect: vi.fn(),
    fillRect(x: number, y: number, w: number, h: number) {
      painted.push({ x, y, w, h, fill: String(ctx.fillStyle) });
    },
  };
  vi.spyOn(HTMLCanvasElement.prototype, 'getContext').mockImplementation((() => ctx) as unknown as HTMLCanvasElement['getContext']);
  return painted;
}

export async function formText(value: FormDataEntryValue | null): Promise<string> {
  if (value === null) return '';
  if (typeof value === 'string') return value;
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsText(value);
  });
}

/**
 * A fake XMLHttpRequest for `apiUpload`: each send reports progress in two steps, then answers
 * with whatever `reply` returns for the sent form.
 */
export function stubXhr(reply: (url: string, form: FormData) => { status: number; body: unknown }) {
  const sent: Array<{ url: string; form: FormData; headers: Record<string, string> }> = [];
  class FakeXhr {
    status = 0;
    responseText = '';
    upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = { onprogress: null };
    onload: (() => void) | null = null;
    onerror: (() => void) | null = null;
    onabort: (() => void) | null = null;
    private url = '';
    private headers: Record<string, string> = {};
    open(_method: string, url: string) {
      this.url = url;
    }
    setRequestHeader(name: string, value: string) {
      this.headers[name] = value;
    }
    send(form: FormData) {
      sent.push({ url: this.url, form, headers: this.headers });
      setTimeout(() => {
        this.upload.onprogress?.({ loaded: 50, total: 100, lengthComputable: true });
        setTimeout(() => {
          const answer = reply(this.url, form);
          this.status = answer.status;
          this.responseText = JSON.stringify(answer.body);
          this.onload?.();
        }, 0);
      }, 0);
    }
  }
  vi.stubGlobal('XMLHttpRequest', FakeXhr);
  return sent;
}
