import { describe, expect, it } from 'vitest';
import type { ServerEvent } from '../api/types';
import { attachMessage, clearPointer, loadPointer, POINTER_KEY, savePointer, type KeyValueStorage } from './attach';
import { RunController } from './runController';
import type { WebSocketLike } from './socket';

function memory(): KeyValueStorage & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

class FakeSocket implements WebSocketLike {
  readyState = 0;
  onopen: WebSocketLike['onopen'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onerror: WebSocketLike['onerror'] = null;
  sent: Array<Record<string, unknown>> = [];

  constructor(readonly url: string) {}

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(): void {
    this.readyState = 3;
    this.onclose?.({} as CloseEvent);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.({} as Event);
  }

  receive(event: object): void {
    this.onmessage?.({ data: JSON.stringify(event) } as MessageEvent);
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
}

function controller(storage: KeyValueStorage) {
  const sockets: FakeSocket[] = [];
  const frames: Array<() => void> = [];
  let registryChanges = 0;
  const c = new RunController({
    storage,
    url: async () => 'ws://test/ws/execution?token=t',
    onRegistryChanged: () => (registryChanges += 1),
    socketFactory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    schedule: (cb) => frames.push(cb),
    newRunId: () => 'run-new',
  });
  const flushFrames = () => frames.splice(0).forEach((f) => f());
  return { c, sockets, flushFrames, registryChanges: () => registryChanges };
}

const connected = { type: 'connected', protocol: 1, version: '0.1.0', generation: 1 };

describe('run pointer storage', () => {
  it('round-trips and rejects junk', () => {
    const storage = memory();
    expect(loadPointer(storage)).toBeNull();
    savePointer(storage, { runId: 'r', lastSeq: 12, tabId: 'tab-1' });
    expect(loadPointer(storage)).toEqual({ runId: 'r', lastSeq: 12, tabId: 'tab-1' });
    storage.setItem(POINTER_KEY, '{"runId": 3}');
    expect(loadPointer(storage)).toBeNull();
    storage.setItem(POINTER_KEY, 'not json');
    expect(loadPointer(storage)).toBeNull();
    clearPointer(storage);
    expect(storage.getItem(POINTER_KEY)).toBeNull();
  });

  it('replays from the start after a reload, and only the rest after a reconnect', () => {
    const pointer = { runId: 'r', lastSeq: 40, tabId: null };
    expect(attachMessage(pointer, { runId: null, lastSeq: 0 })).toEqual({ action: 'attach', run_id: 'r', after_seq: 0 });
    expect(attachMessage(pointer, { runId: 'r', lastSeq: 41 })).toEqual({ action: 'attach', run_id: 'r', after_seq: 41 });
    expect(attachMessage(pointer, { runId: 'other', lastSeq: 41 }).after_seq).toBe(0);
  });
});

describe('RunController', () => {
  it('stores the run id on execute and the last seq as events arrive', async () => {
    const storage = memory();
    const { c, sockets, flushFrames } = controller(storage);
    c.start();
    await settle();
    const socket = sockets[0] as FakeSocket;
    expect(socket.url).toContain('token=');
    socket.open();
    socket.receive(connected);
    expect(socket.sent).toHaveLength(0);

    c.execute({ nodes: [{ id: 'p', type: 'Print' }], edges: [] }, { record_outputs: true }, 'tab-1');
    expect(socket.sent[0]).toMatchObject({ action: 'execute', run_id: 'run-new', record_outputs: true, nodes: [{ id: 'p' }], presets: [] });
    expect(loadPointer(storage)).toEqual({ runId: 'run-new', lastSeq: 0, tabId: 'tab-1' });

    socket.receive({ type: 'execution_start', run_id: 'run-new', seq: 1, generation: 1, device: 'cpu', seed: 1, graph_id: '', record_outputs: true, warnings: [] });
    socket.receive({ type: 'node_status', run_id: 'run-new', seq: 2, node_id: 'p', status: 'running' });
    expect(c.run.get().lastSeq).toBe(0);
    flushFrames();
    expect(c.run.get().nodes.p?.status).toBe('running');
    expect(loadPointer(storage)?.lastSeq).toBe(2);
  });

  it('re-attaches after a reload and rebuilds the view from the replay', async () => {
    const storage = memory();
    savePointer(storage, { runId: 'r9', lastSeq: 5, tabId: 'tab-7' });
    const { c, sockets, flushFrames } = controller(storage);
    expect(c.run.get()).toMatchObject({ runId: 'r9', tabId: 'tab-7', phase: 'starting' });
    c.start();
    await settle();
    const socket = sockets[0] as FakeSocket;
    socket.open();
    socket.receive(connected);
    expect(socket.sent).toEqual([{ action: 'attach', run_id: 'r9', after_seq: 0 }]);

    socket.receive({ type: 'attached', run_id: 'r9', state: 'running', first_seq: 1, last_seq: 3, gap: false, owner: true });
    socket.receive({ type: 'execution_start', run_id: 'r9', seq: 1, generation: 1, device: 'cpu', seed: 1, graph_id: '', record_outputs: false, warnings: [] });
    socket.receive({ type: 'node_status', run_id: 'r9', seq: 2, node_id: 'a', status: 'completed' });
    socket.receive({ type: 'node_status', run_id: 'r9', seq: 3, node_id: 'b', status: 'running' });
    flushFrames();
    expect(c.run.get().nodes).toMatchObject({ a: { status: 'completed' }, b: { status: 'running' } });
    expect(c.run.get().phase).toBe('running');

    // A dropped connection resumes after what this page has already seen.
    socket.close();
    await new Promise((r) => setTimeout(r, 300));
    await settle();
    const again = sockets[1] as FakeSocket;
    again.open();
    again.receive(connected);
    expect(again.sent).toEqual([{ action: 'attach', run_id: 'r9', after_seq: 3 }]);
    c.stopSocket();
  });

  it('forgets a run the server no longer knows', async () => {
    const storage = memory();
    savePointer(storage, { runId: 'gone', lastSeq: 0, tabId: null });
    const { c, sockets, flushFrames } = controller(storage);
    c.start();
    await settle();
    const socket = sockets[0] as FakeSocket;
    socket.open();
    socket.receive(connected);
    socket.receive({ type: 'error', code: 'unknown_run', error: "Unknown run 'gone'", action: 'attach', run_id: 'gone' } satisfies ServerEvent);
    flushFrames();
    expect(loadPointer(storage)).toBeNull();
    expect(c.run.get().phase).toBe('idle');
  });

  it('refreshes the registry on registry_changed without touching the run', async () => {
    const { c, sockets, registryChanges } = controller(memory());
    c.start();
    await settle();
    const socket = sockets[0] as FakeSocket;
    socket.open();
    socket.receive({ type: 'registry_changed', generation: 5 });
    expect(registryChanges()).toBe(1);
    expect(c.run.get().log).toHaveLength(0);
  });

  it('queues messages until the socket opens', async () => {
    const { c, sockets } = controller(memory());
    c.start();
    c.stop();
    await settle();
    const socket = sockets[0] as FakeSocket;
    expect(socket.sent).toHaveLength(0);
    socket.open();
    expect(socket.sent).toEqual([{ action: 'stop' }]);
  });
});
