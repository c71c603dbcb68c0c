// The run options the toolbar offers, remembered across sessions.
import type { ErrorMode } from '../api/types';
import { createStore } from '../store/store';

export interface RunOptions {
  recordOutputs: boolean;
  device: string;
  errorMode: ErrorMode;
}

const KEY = 'nodeloom.runOptions';
const DEFAULTS: RunOptions = { recordOutputs: false, device: 'auto', errorMode: 'fail_fast' };

function load(): RunOptions {
  try {
    const raw = globalThis.localStorage?.getItem(KEY);
    return raw ? { ...DEFAULTS, ...(JSON.parse(raw) as Partial<RunOptions>) } : DEFAULTS;
  } catch {
    return DEFAULTS;
  }
}

export const runOptionsStore = createStore<RunOptions>(load());

export function setRunOptions(patch: Partial<RunOptions>): void {
  runOptionsStore.set((o) => ({ ...o, ...patch }));
  try {
    globalThis.localStorage?.setItem(KEY, JSON.stringify(runOptionsStore.get()));
  } catch {
    // Not remembered; still applied.
  }
}
