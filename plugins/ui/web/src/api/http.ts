// The one place that talks REST: adds the session token and turns error bodies (api.md §1.2)
// into ApiError so views can show the server's wording.

export class ApiError extends Error {
  status: number;
  code: string;
  detail: unknown;
  body: unknown;

  constructor(status: number, code: string, detail: unknown, body: unknown) {
    super(ApiError.describe(status, detail));
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }

  // 422 details are lists of {loc,msg}; flatten them so a plain message is always available.
  private static describe(status: number, detail: unknown): string {
    if (typeof detail === 'string' && detail) return detail;
    if (Array.isArray(detail)) {
      const parts = detail.map((item) => {
        if (item && typeof item === 'object') {
          const { loc, msg } = item as { loc?: unknown; msg?: unknown };
          const where = Array.isArray(loc) ? loc.join('.') : '';
          return where ? `${where}: ${String(msg ?? '')}` : String(msg ?? '');
        }
        return String(item);
      });
      if (parts.length) return parts.join('; ');
    }
    return `HTTP ${status}`;
  }
}

const TOKEN_HEADER = 'X-Nodeloom-Token';

let tokenPromise: Promise<string> | null = null;

function tokenFromHash(): string | null {
  if (typeof window === 'undefined') return null;
  const hash = window.location.hash.replace(/^#/, '');
  if (!hash) return null;
  const params = new URLSearchParams(hash);
  const token = params.get('token');
  if (!token) return null;
  params.delete('token');
  // The token must not linger in the address bar, history or screenshots.
  const rest = params.toString();
  const url = window.location.pathname + window.location.search + (rest ? `#${rest}` : '');
  window.history.replaceState(window.history.state, '', url);
  return token;
}

async function fetchBootstrapToken(): Promise<string> {
  const response = await fetch('/api/auth/bootstrap', { headers: { Accept: 'application/json' } });
  const body = await readBody(response);
  if (!response.ok) throw toApiError(response.status, body);
  const token = (body as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || !token) throw new ApiError(response.status, 'bootstrap_failed', 'No token in bootstrap reply', body);
  return token;
}

export function getToken(): Promise<string> {
  if (!tokenPromise) {
    const fromHash = tokenFromHash();
    tokenPromise = fromHash ? Promise.resolve(fromHash) : fetchBootstrapToken();
    // A failed bootstrap must not poison later attempts (e.g. the server was restarting).
    tokenPromise.catch(() => {
      tokenPromise = null;
    });
  }
  return tokenPromise;
}

/** Test hook: forget the cached token. */
export function resetTokenCache(): void {
  tokenPromise = null;
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get('Content-Type') ?? '';
  if (type.includes('json') || /^[[{"]/.test(text.trim())) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

function toApiError(status: number, body: unknown): ApiError {
  if (body && typeof body === 'object') {
    const { detail, code } = body as { detail?: unknown; code?: unknown };
    return new ApiError(status, typeof code === 'string' ? code : `http_${status}`, detail ?? null, body);
  }
  return new ApiError(status, `http_${status}`, typeof body === 'string' ? body : null, body);
}

declare global {
  interface Window {
    __nodeloomPrefetch?: Record<string, Promise<Response> | undefined>;
  }
}

/** A request index.html started while the bundle was still downloading; each is used once, as
 * a later call must see fresh data. */
function takePrefetched(path: string): Promise<Response> | undefined {
  const store = typeof window === 'undefined' ? undefined : window.__nodeloomPrefetch;
  const pending = store?.[path];
  if (store && pending) delete store[path];
  return pending;
}

export async function apiGet<T>(path: string): Promise<T> {
  const prefetched = takePrefetched(path);
  const response = (prefetched && (await prefetched.catch(() => null))) || (await fetch(path, { headers: { Accept: 'application/json' } }));
  const body = await readBody(response);
  if (!response.ok) throw toApiError(response.status, body);
  return body as T;
}

export async function apiSend<T>(
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const token = await getToken();
  const headers: Record<string, string> = { Accept: 'application/json', [TOKEN_HEADER]: token };
  let payload: BodyInit | undefined;
  if (body instanceof FormData) {
    // The browser must set the multipart boundary itself.
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  const parsed = await readBody(response);
  if (!response.ok) throw toApiError(response.status, parsed);
  return parsed as T;
}

export async function apiUpload<T>(
  path: string,
  form: FormData,
  onProgress?: (sent: number, total: number) => void,
): Promise<T> {
  const token = await getToken();
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader(TOKEN_HEADER, token);
    xhr.setRequestHeader('Accept', 'application/json');
    if (onProgress) {
      xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : 0);
    }
    xhr.onerror = () => reject(new ApiError(0, 'network_error', 'Network error during upload', null));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload aborted', null));
    xhr.onload = () => {
      let parsed: unknown = xhr.responseText;
      try {
        parsed = xhr.responseText ? (JSON.parse(xhr.responseText) as unknown) : null;
      } catch {
        // Keep the raw text; toApiError copes with strings.
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(parsed as T);
      else reject(toApiError(xhr.status, parsed));
    };
    xhr.send(form);
  });
}
