import { describe, expect, it, vi } from 'vitest';
import type { ServerEvent } from '../api/types';
import { createBatcher } from './batcher';
import { applyRunEvents, beginRun, IDLE_RUN, MAX_LOG, type RunState } from './runState';

const RUN = 'run-1';

function started(): RunState {
  return beginRun(IDLE_RUN, RUN, 'tab-1', true);
}

let seq = 0;
function ev<T extends object>(event: T): ServerEvent {
  seq += 1;
  return { run_id: RUN, seq, ...event } as unknown as ServerEvent;
}

function startEvent(): ServerEvent {
  seq = 0;
  return ev({ type: 'execution_start', generation: 1, device: 'cpu', seed: 7, graph_id: 'g', record_outputs: true, warnings: ['careful'] });
}

describe('applyRunEvents', () => {
  it('folds a whole run into per-node status, log and phase', () => {
    const events = [
      startEvent(),
      ev({ type: 'node_status', node_id: 's', status: 'cached' }),
      ev({ type: 'node_status', node_id: 't', status: 'running' }),
      ev({ type: 'node_status', node_id: 't', status: 'completed', elapsed_ms: 3, output_summary: { tensor: { type: 'tensor', shape: [2, 3], dtype: 'torch.float32' } } }),
      ev({ type: 'node_status', node_id: 'p', status: 'running' }),
      ev({ type: 'node_status', node_id: 'p', status: 'completed', log: '[out] tensor([1.])' }),
      ev({ type: 'node_status', node_id: 'q', status: 'skipped', reason: 'upstream node failed' }),
      ev({ type: 'execution_complete', elapsed_ms: 1234, failed_nodes: [], warnings: [] }),
    ];
    const state = applyRunEvents(started(), events);
    expect(state.phase).toBe('completed');
    expect(state.lastSeq).toBe(8);
    expect(state.device).toBe('cpu');
    expect(state.nodes.s?.status).toBe('cached');
    expect(state.nodes.t).toMatchObject({ status: 'completed', elapsedMs: 3 });
    expect(state.nodes.t?.summary?.tensor).toMatchObject({ shape: [2, 3] });
    expect(state.nodes.q).toMatchObject({ status: 'skipped', reason: 'upstream node failed' });
    expect(state.log.map((l) => l.level)).toEqual(['info', 'warning', 'log', 'info']);
    expect(state.log[2]).toMatchObject({ text: '[out] tensor([1.])', nodeId: 'p' });
  });

  it('shows node errors with their message and logs them', () => {
    const state = applyRunEvents(started(), [
      startEvent(),
      ev({ type: 'node_status', node_id: 'n', status: 'running' }),
      ev({ type: 'node_status', node_id: 'other', status: 'running' }),
      ev({ type: 'node_status', node_id: 'n', status: 'error', error: 'shape mismatch', error_type: 'RuntimeError', code: 'node_error', attempts: 1 }),
      ev({ type: 'execution_error', error: 'shape mismatch', node_id: 'n', errors: [], warnings: [] }),
    ]);
    expect(state.phase).toBe('error');
    expect(state.nodes.n).toMatchObject({ status: 'error', error: 'shape mismatch', errorType: 'RuntimeError' });
    // Nothing more arrives for a node still running when the run ends.
    expect(state.nodes.other?.status).toBe('idle');
    expect(state.log.some((l) => l.level === 'error' && l.text.includes('RuntimeError: shape mismatch'))).toBe(true);
  });

  it('logs validation failures from execution_error', () => {
    const state = applyRunEvents(started(), [
      startEvent(),
      ev({ type: 'execution_error', error: 'a; b', node_id: null, errors: ['a', 'b'], warnings: [] }),
    ]);
    expect(state.log.filter((l) => l.level === 'error').map((l) => l.text)).toEqual(['a', 'b']);
  });

  it('ignores other runs, duplicates and replays it has already seen', () => {
    const first = applyRunEvents(started(), [startEvent(), ev({ type: 'node_status', node_id: 'a', status: 'running' })]);
    const replay = applyRunEvents(first, [
      { type: 'execution_start', run_id: RUN, seq: 1, generation: 1, device: 'cuda', seed: 1, graph_id: '', record_outputs: false, warnings: [] },
      { type: 'node_status', run_id: 'someone-else', seq: 99, node_id: 'a', status: 'error', error: 'x', error_type: 'E', code: 'node_error', attempts: 1 },
    ]);
    expect(replay.device).toBe('cpu');
    expect(replay.nodes.a?.status).toBe('running');
    expect(replay.lastSeq).toBe(2);
  });

  it('turns epoch progress into loss series and batch/map/step into progress', () => {
    const state = applyRunEvents(started(), [
      startEvent(),
      ev({ type: 'node_status', node_id: 'train', status: 'running' }),
      ev({ type: 'node_status', node_id: 'train', status: 'progress', progress: { event: 'batch', epoch: 1, batch: 3, total_batches: 10, loss: 0.9 } }),
      ev({ type: 'node_status', node_id: 'train', status: 'progress', progress: { event: 'epoch', epoch: 1, total_epochs: 3, loss: 0.8, losses: [0.8], lr: 0.01 } }),
      ev({ type: 'node_status', node_id: 'train', status: 'progress', progress: { event: 'epoch', epoch: 2, total_epochs: 3, loss: 0.5, losses: [0.8, 0.5], val_loss: 0.6, val_losses: [0.7, 0.6] } }),
      ev({ type: 'node_status', node_id: 'map', status: 'progress', progress: { event: 'map', index: 4, total: 10 } }),
      ev({ type: 'node_status', node_id: 'llm', status: 'progress', progress: { text: 'Hello wor' } }),
    ]);
    expect(state.loss.train).toEqual({ nodeId: 'train', losses: [0.8, 0.5], valLosses: [0.7, 0.6], totalEpochs: 3 });
    expect(state.nodes.train?.progress).toMatchObject({ current: 2, total: 3 });
    expect(state.nodes.map?.progress).toMatchObject({ current: 5, total: 10 });
    expect(state.nodes.llm?.text).toBe('Hello wor');
    expect(state.log.filter((l) => l.text.includes('epoch'))).toHaveLength(2);
  });

  it('copies shared state once per batch and leaves the previous state untouched', () => {
    const before = applyRunEvents(started(), [startEvent()]);
    const events = Array.from({ length: 400 }, (_, i) => ev({ type: 'node_status', node_id: `n${i % 200}`, status: i < 200 ? 'running' : 'completed' }));
    const after = applyRunEvents(before, events);
    expect(Object.keys(before.nodes)).toHaveLength(0);
    expect(Object.values(after.nodes).every((n) => n.status === 'completed')).toBe(true);
    expect(Object.keys(after.nodes)).toHaveLength(200);
  });

  it('caps the log', () => {
    const events = [startEvent(), ...Array.from({ length: MAX_LOG + 50 }, (_, i) => ev({ type: 'node_status', node_id: `p${i}`, status: 'completed', log: `line ${i}` }))];
    const state = applyRunEvents(started(), events);
    expect(state.log).toHaveLength(MAX_LOG);
    expect(state.log[state.log.length - 1]?.text).toBe(`line ${MAX_LOG + 49}`);
  });

  it('settles running nodes when the run is stopped', () => {
    const state = applyRunEvents(started(), [
      startEvent(),
      ev({ type: 'node_status', node_id: 'slow', status: 'running' }),
      ev({ type: 'execution_stopped', reason: 'stop', warnings: [] }),
    ]);
    expect(state.phase).toBe('stopped');
    expect(state.nodes.slow).toMatchObject({ status: 'idle' });
  });
});

describe('createBatcher', () => {
  it('delivers everything pushed within one frame as one batch', () => {
    const frames: Array<() => void> = [];
    const deliver = vi.fn();
    const batcher = createBatcher<number>(deliver, (cb) => frames.push(cb));
    for (let i = 0; i < 500; i += 1) batcher.push(i);
    expect(frames).toHaveLength(1);
    expect(deliver).not.toHaveBeenCalled();
    frames[0]?.();
    expect(deliver).toHaveBeenCalledTimes(1);
    expect(deliver.mock.calls[0]?.[0]).toHaveLength(500);
    batcher.push(1);
    expect(frames).toHaveLength(2);
  });

  it('flushes on demand and never delivers an empty batch', () => {
    const deliver = vi.fn();
    const batcher = createBatcher<string>(deliver, () => undefined);
    batcher.flush();
    expect(deliver).not.toHaveBeenCalled();
    batcher.push('a');
    batcher.flush();
    expect(deliver).toHaveBeenCalledWith(['a']);
    expect(batcher.pending()).toBe(0);
  });

  it('turns a 200-node run into one state update per frame', () => {
    const frames: Array<() => void> = [];
    let state = applyRunEvents(started(), [startEvent()]);
    let updates = 0;
    const batcher = createBatcher<ServerEvent>((events) => {
      updates += 1;
      state = applyRunEvents(state, events);
    }, (cb) => frames.push(cb));
    for (let i = 0; i < 200; i += 1) {
      batcher.push(ev({ type: 'node_status', node_id: `n${i}`, status: 'running' }));
      batcher.push(ev({ type: 'node_status', node_id: `n${i}`, status: 'completed' }));
    }
    frames.forEach((f) => f());
    expect(updates).toBe(1);
    expect(Object.values(state.nodes).filter((n) => n.status === 'completed')).toHaveLength(200);
  });
});
