// Survives a page reload: which run to follow and how far this page has seen it (api.md §3.6).

export interface RunPointer {
  runId: string;
  lastSeq: number;
  tabId: string | null;
}

export const POINTER_KEY = 'nodeloom.run';

export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export function savePointer(storage: KeyValueStorage, pointer: RunPointer): void {
  try {
    storage.setItem(POINTER_KEY, JSON.stringify(pointer));
  } catch {
    // Storage full or disabled: re-attach after reload is lost, nothing else.
  }
}

export function loadPointer(storage: KeyValueStorage): RunPointer | null {
  try {
    const raw = storage.getItem(POINTER_KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Partial<RunPointer>;
    if (typeof value.runId !== 'string' || !value.runId) return null;
    const lastSeq = typeof value.lastSeq === 'number' && value.lastSeq >= 0 ? Math.floor(value.lastSeq) : 0;
    return { runId: value.runId, lastSeq, tabId: typeof value.tabId === 'string' ? value.tabId : null };
  } catch {
    return null;
  }
}

export function clearPointer(storage: KeyValueStorage): void {
  try {
    storage.removeItem(POINTER_KEY);
  } catch {
    // ignored, as in savePointer
  }
}

export interface AttachMessage {
  action: 'attach';
  run_id: string;
  after_seq: number;
}

/**
 * After a reconnect within the same page the state is still in memory, so only newer events are
 * needed. After a reload the page has nothing, so the run is replayed from its start; the stored
 * lastSeq then only tells how far the previous page had got.
 */
export function attachMessage(pointer: RunPointer, inMemory: { runId: string | null; lastSeq: number }): AttachMessage {
  const afterSeq = inMemory.runId === pointer.runId ? inMemory.lastSeq : 0;
  return { action: 'attach', run_id: pointer.runId, after_seq: afterSeq };
}
