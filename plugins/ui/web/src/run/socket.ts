// The execution WebSocket (api.md §3): connects with the session token, reconnects with backoff,
// and queues messages sent while it is down.
import type { ServerEvent } from '../api/types';

export type ConnectionStatus = 'connecting' | 'open' | 'closed';

export interface SocketHandlers {
  onEvent(event: ServerEvent): void;
  onStatus(status: ConnectionStatus): void;
  /** The upgrade failed before opening: the token may be stale (server restarted). */
  onRefused?(): void;
}

export interface WebSocketLike {
  readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onclose: ((ev: CloseEvent) => unknown) | null;
  onmessage: ((ev: MessageEvent) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  send(data: string): void;
  close(code?: number): void;
}

export type WebSocketFactory = (url: string) => WebSocketLike;

const OPEN = 1;
const MAX_BACKOFF_MS = 5000;

export class RunSocket {
  private ws: WebSocketLike | null = null;
  private outbox: string[] = [];
  private backoff = 250;
  private stopped = true;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: () => Promise<string>,
    private readonly handlers: SocketHandlers,
    private readonly factory: WebSocketFactory = (u) => new WebSocket(u) as unknown as WebSocketLike,
  ) {}

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.ws?.close(1000);
    this.ws = null;
  }

  isOpen(): boolean {
    return this.ws?.readyState === OPEN;
  }

  send(message: object): void {
    const text = JSON.stringify(message);
    if (this.ws && this.ws.readyState === OPEN) this.ws.send(text);
    else this.outbox.push(text);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.handlers.onStatus('connecting');
    let url: string;
    try {
      url = await this.url();
    } catch {
      this.retry();
      return;
    }
    if (this.stopped) return;
    const ws = this.factory(url);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.backoff = 250;
      this.handlers.onStatus('open');
      const queued = this.outbox;
      this.outbox = [];
      for (const text of queued) ws.send(text);
    };
    ws.onmessage = (message) => {
      if (typeof message.data !== 'string') return;
      try {
        this.handlers.onEvent(JSON.parse(message.data) as ServerEvent);
      } catch {
        // The server only sends JSON objects; anything else is ignored rather than fatal.
      }
    };
    ws.onerror = () => undefined;
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      this.handlers.onStatus('closed');
      if (!opened) this.handlers.onRefused?.();
      this.retry();
    };
  }

  private retry(): void {
    if (this.stopped) return;
    const delay = this.backoff;
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
    this.timer = setTimeout(() => void this.connect(), delay);
  }
}
