// What the UI shows about the current run, folded from WebSocket events (api.md §3.4, §4.9).
// One call folds a whole batch, copying the per-node map and the log at most once per batch.
import type { NodeStatusEvent, OutputSummary, ProgressPayload, ServerEvent } from '../api/types';

export type NodeRunStatus = 'idle' | 'running' | 'completed' | 'cached' | 'error' | 'skipped';
export type RunPhase = 'idle' | 'starting' | 'running' | 'completed' | 'error' | 'stopped';

export interface NodeProgress {
  current: number;
  total: number | null;
  label: string;
}

export interface NodeRun {
  status: NodeRunStatus;
  error?: string;
  errorType?: string;
  code?: string;
  reason?: string;
  progress?: NodeProgress;
  text?: string;
  image?: string;
  summary?: OutputSummary;
  elapsedMs?: number;
}

export type LogLevel = 'info' | 'log' | 'warning' | 'error';

export interface LogEntry {
  id: number;
  level: LogLevel;
  text: string;
  nodeId: string | null;
}

export interface LossSeries {
  nodeId: string;
  losses: Array<number | null>;
  valLosses: Array<number | null>;
  totalEpochs: number | null;
}

export interface RunState {
  runId: string | null;
  tabId: string | null;
  phase: RunPhase;
  recordOutputs: boolean;
  lastSeq: number;
  device: string | null;
  seed: number | null;
  elapsedMs: number | null;
  nodes: Record<string, NodeRun>;
  log: LogEntry[];
  nextLogId: number;
  loss: Record<string, LossSeries>;
}

export const MAX_LOG = 2000;

export const IDLE_RUN: RunState = {
  runId: null,
  tabId: null,
  phase: 'idle',
  recordOutputs: false,
  lastSeq: 0,
  device: null,
  seed: null,
  elapsedMs: null,
  nodes: {},
  log: [],
  nextLogId: 1,
  loss: {},
};

export function beginRun(state: RunState, runId: string, tabId: string | null, recordOutputs: boolean): RunState {
  return { ...IDLE_RUN, runId, tabId, recordOutputs, phase: 'starting', nextLogId: state.nextLogId };
}

function isRunEvent(event: ServerEvent): event is Extract<ServerEvent, { run_id: string; seq: number }> {
  return 'seq' in event && typeof event.seq === 'number' && 'run_id' in event && typeof event.run_id === 'string';
}

/** Mutable working copy for one batch; copies are made lazily on first write. */
class Draft {
  nodes: Record<string, NodeRun> | null = null;
  log: LogEntry[] | null = null;
  loss: Record<string, LossSeries> | null = null;
  next: RunState;

  constructor(state: RunState) {
    this.next = { ...state };
  }

  node(id: string): NodeRun | undefined {
    return (this.nodes ?? this.next.nodes)[id];
  }

  setNode(id: string, run: NodeRun): void {
    if (!this.nodes) this.nodes = { ...this.next.nodes };
    this.nodes[id] = run;
  }

  addLog(level: LogLevel, text: string, nodeId: string | null = null): void {
    if (!this.log) this.log = this.next.log.slice();
    this.log.push({ id: this.next.nextLogId, level, text, nodeId });
    this.next.nextLogId += 1;
  }

  setLoss(id: string, series: LossSeries): void {
    if (!this.loss) this.loss = { ...this.next.loss };
    this.loss[id] = series;
  }

  /** No node event follows a terminal event (api.md §3.3), so nodes still shown running are not. */
  settleRunning(note: string): void {
    for (const [id, run] of Object.entries(this.nodes ?? this.next.nodes)) {
      if (run.status === 'running') this.setNode(id, { status: 'idle', reason: note });
    }
  }

  finish(): RunState {
    const state = this.next;
    if (this.nodes) state.nodes = this.nodes;
    if (this.log) state.log = this.log.length > MAX_LOG ? this.log.slice(this.log.length - MAX_LOG) : this.log;
    if (this.loss) state.loss = this.loss;
    return state;
  }
}

function fmt(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  return value === null || value === undefined ? '–' : String(value);
}

function applyProgress(draft: Draft, nodeId: string, progress: ProgressPayload): void {
  const current = draft.node(nodeId) ?? { status: 'running' as const };
  const p = progress as Record<string, unknown>;
  if (typeof p.text === 'string' && p.event === undefined) {
    draft.setNode(nodeId, { ...current, text: p.text });
    return;
  }
  switch (p.event) {
    case 'config': {
      const config = (p.config ?? {}) as Record<string, unknown>;
      const parts = Object.entries(config).map(([k, v]) => `${k}=${fmt(v)}`);
      draft.addLog('info', `[${nodeId}] training config: ${parts.join(', ')}`, nodeId);
      return;
    }
    case 'epoch': {
      const epoch = Number(p.epoch);
      const total = typeof p.total_epochs === 'number' ? p.total_epochs : null;
      const previous = (draft.loss ?? draft.next.loss)[nodeId];
      const losses = Array.isArray(p.losses)
        ? (p.losses as Array<number | null>)
        : [...(previous?.losses ?? []), (p.loss as number | null) ?? null];
      const valLosses = Array.isArray(p.val_losses)
        ? (p.val_losses as Array<number | null>)
        : p.val_loss !== undefined
          ? [...(previous?.valLosses ?? []), (p.val_loss as number | null) ?? null]
          : (previous?.valLosses ?? []);
      draft.setLoss(nodeId, { nodeId, losses, valLosses, totalEpochs: total });
      const val = p.val_loss !== undefined ? `, val_loss ${fmt(p.val_loss)}` : '';
      draft.addLog('info', `[${nodeId}] epoch ${epoch}${total ? `/${total}` : ''}: loss ${fmt(p.loss)}${val}`, nodeId);
      draft.setNode(nodeId, { ...current, progress: { current: epoch, total, label: `epoch ${epoch}${total ? `/${total}` : ''}` } });
      return;
    }
    case 'batch': {
      const total = typeof p.total_batches === 'number' ? p.total_batches : null;
      const label = `epoch ${fmt(p.epoch)} · batch ${fmt(p.batch)}${total ? `/${total}` : ''} · loss ${fmt(p.loss)}`;
      draft.setNode(nodeId, { ...current, progress: { current: Number(p.batch), total, label } });
      return;
    }
    case 'map': {
      const index = Number(p.index);
      const total = typeof p.total === 'number' ? p.total : null;
      draft.setNode(nodeId, { ...current, progress: { current: index + 1, total, label: `item ${index + 1}${total ? `/${total}` : ''}` } });
      return;
    }
    case 'step': {
      const total = typeof p.total === 'number' ? p.total : null;
      const step = Number(p.current);
      const message = typeof p.message === 'string' && p.message ? ` · ${p.message}` : '';
      draft.setNode(nodeId, { ...current, progress: { current: step, total, label: `${step}${total ? `/${total}` : ''}${message}` } });
      return;
    }
    case 'retry':
      draft.addLog('warning', `[${nodeId}] attempt ${fmt(p.attempt)}/${fmt(p.max_attempts)} failed: ${fmt(p.error)}`, nodeId);
      return;
    default:
      return;
  }
}

function applyNodeStatus(draft: Draft, event: NodeStatusEvent): void {
  const id = event.node_id;
  switch (event.status) {
    case 'running':
      draft.setNode(id, { status: 'running' });
      return;
    case 'completed':
    case 'cached': {
      const previous = draft.node(id);
      draft.setNode(id, {
        status: event.status,
        summary: event.output_summary,
        image: event.image,
        elapsedMs: event.elapsed_ms,
        text: previous?.text,
      });
      if (event.log) draft.addLog('log', event.log, id);
      return;
    }
    case 'skipped':
      draft.setNode(id, { status: 'skipped', reason: event.reason });
      return;
    case 'error':
      draft.setNode(id, { status: 'error', error: event.error, errorType: event.error_type, code: event.code });
      draft.addLog('error', `[${id}] ${event.error_type ? `${event.error_type}: ` : ''}${event.error}`, id);
      return;
    case 'progress':
      applyProgress(draft, id, event.progress);
      return;
  }
}

function applyOne(draft: Draft, event: ServerEvent): void {
  const state = draft.next;
  if (isRunEvent(event)) {
    if (event.run_id !== state.runId || event.seq <= state.lastSeq) return;
    state.lastSeq = event.seq;
  }
  switch (event.type) {
    case 'execution_start':
      if (event.run_id !== state.runId) return;
      state.phase = 'running';
      state.device = event.device;
      state.seed = event.seed;
      state.recordOutputs = event.record_outputs;
      draft.addLog('info', `Run started on ${event.device} (seed ${event.seed})${event.record_outputs ? ', recording outputs' : ''}`);
      for (const warning of event.warnings) draft.addLog('warning', warning);
      return;
    case 'node_status':
      applyNodeStatus(draft, event);
      return;
    case 'execution_complete':
      state.phase = 'completed';
      draft.settleRunning('run ended');
      state.elapsedMs = event.elapsed_ms;
      for (const warning of event.warnings) draft.addLog('warning', warning);
      draft.addLog('info', `Run completed in ${(event.elapsed_ms / 1000).toFixed(2)} s${event.failed_nodes.length ? ` (failed: ${event.failed_nodes.join(', ')})` : ''}`);
      return;
    case 'execution_error':
      state.phase = 'error';
      draft.settleRunning('run failed');
      for (const warning of event.warnings ?? []) draft.addLog('warning', warning);
      if (event.errors.length) for (const message of event.errors) draft.addLog('error', message);
      else draft.addLog('error', event.node_id ? `Run failed at ${event.node_id}: ${event.error}` : `Run failed: ${event.error}`, event.node_id);
      return;
    case 'execution_stopped':
      if (event.seq === undefined) {
        draft.addLog('info', 'Nothing to stop: no run is active');
        if (event.run_id && event.run_id === state.runId && (state.phase === 'running' || state.phase === 'starting')) state.phase = 'stopped';
        return;
      }
      state.phase = 'stopped';
      draft.settleRunning(`run stopped (${event.reason})`);
      draft.addLog('warning', `Run stopped (${event.reason})`);
      return;
    case 'attached':
      if (event.run_id !== state.runId) return;
      if (state.phase === 'idle' || state.phase === 'starting') state.phase = event.state;
      if (event.gap) draft.addLog('warning', 'Some events of this run were dropped from the server buffer; the view may be incomplete');
      return;
    case 'error':
      if (event.run_id && event.run_id === state.runId) {
        if (event.action === 'execute') state.phase = 'error';
        if (event.action === 'attach') state.phase = state.lastSeq > 0 ? state.phase : 'idle';
      }
      draft.addLog('error', `${event.error}${event.code ? ` (${event.code})` : ''}`);
      return;
    case 'cache_cleared':
      draft.addLog('info', 'Execution cache cleared');
      return;
    default:
      return;
  }
}

export function applyRunEvents(state: RunState, events: readonly ServerEvent[]): RunState {
  if (events.length === 0) return state;
  const draft = new Draft(state);
  for (const event of events) applyOne(draft, event);
  return draft.finish();
}

export function isActive(state: RunState): boolean {
  return state.phase === 'starting' || state.phase === 'running';
}
