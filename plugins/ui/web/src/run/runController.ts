// Glue between the socket, the event batcher, the run store and the reload pointer.
import type { ExecuteOptions, Graph, ServerEvent } from '../api/types';
import { createStore, type Store } from '../store/store';
import { attachMessage, clearPointer, loadPointer, savePointer, type KeyValueStorage } from './attach';
import { createBatcher, type Batcher, type Scheduler } from './batcher';
import { applyRunEvents, beginRun, IDLE_RUN, type RunState } from './runState';
import { RunSocket, type ConnectionStatus, type WebSocketFactory } from './socket';

export interface RunControllerDeps {
  storage: KeyValueStorage;
  url: () => Promise<string>;
  onRegistryChanged: () => void;
  onRefused?: () => void;
  socketFactory?: WebSocketFactory;
  schedule?: Scheduler;
  newRunId?: () => string;
}

function randomRunId(): string {
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export class RunController {
  readonly run: Store<RunState> = createStore<RunState>(IDLE_RUN);
  readonly connection: Store<ConnectionStatus> = createStore<ConnectionStatus>('closed');
  private readonly socket: RunSocket;
  private readonly batcher: Batcher<ServerEvent>;

  constructor(private readonly deps: RunControllerDeps) {
    this.batcher = createBatcher<ServerEvent>((events) => this.deliver(events), deps.schedule);
    this.socket = new RunSocket(
      deps.url,
      {
        onEvent: (event) => this.receive(event),
        onStatus: (status) => this.connection.set(status),
        onRefused: deps.onRefused,
      },
      deps.socketFactory,
    );
    // A reloaded page follows the run the previous page was showing.
    const pointer = loadPointer(deps.storage);
    if (pointer) this.run.set(beginRun(IDLE_RUN, pointer.runId, pointer.tabId, false));
  }

  start(): void {
    this.socket.start();
  }

  stopSocket(): void {
    this.socket.stop();
  }

  execute(graph: Graph, options: ExecuteOptions, tabId: string | null): string {
    this.batcher.flush();
    const runId = options.run_id ?? (this.deps.newRunId ?? randomRunId)();
    this.run.set((state) => beginRun(state, runId, tabId, options.record_outputs ?? false));
    savePointer(this.deps.storage, { runId, lastSeq: 0, tabId });
    this.socket.send({
      action: 'execute',
      ...options,
      run_id: runId,
      nodes: graph.nodes,
      edges: graph.edges,
      presets: graph.presets ?? [],
    });
    return runId;
  }

  stop(): void {
    const { runId } = this.run.get();
    this.socket.send(runId ? { action: 'stop', run_id: runId } : { action: 'stop' });
  }

  clearCache(): void {
    this.socket.send({ action: 'clear_cache' });
  }

  private receive(event: ServerEvent): void {
    if (event.type === 'registry_changed') {
      this.deps.onRegistryChanged();
      return;
    }
    if (event.type === 'connected') {
      this.batcher.flush();
      const pointer = loadPointer(this.deps.storage);
      if (pointer) this.socket.send(attachMessage(pointer, this.run.get()));
      return;
    }
    this.batcher.push(event);
  }

  private deliver(events: ServerEvent[]): void {
    this.run.set((state) => applyRunEvents(state, events));
    const state = this.run.get();
    const pointer = loadPointer(this.deps.storage);
    if (!pointer || pointer.runId !== state.runId) return;
    const forgotten = events.some(
      (e) => e.type === 'error' && e.code === 'unknown_run' && e.action === 'attach' && e.run_id === pointer.runId,
    );
    if (forgotten) clearPointer(this.deps.storage);
    else if (state.lastSeq !== pointer.lastSeq) savePointer(this.deps.storage, { ...pointer, lastSeq: state.lastSeq });
  }
}
