// Undo/redo over whole documents. Transient updates (drag frames, selection, measuring) replace the
// present without a history entry; a checkpoint before a drag makes the whole drag one undo step.

export interface History<T> {
  past: T[];
  present: T;
  future: T[];
}

export const HISTORY_LIMIT = 100;

export function createHistory<T>(present: T): History<T> {
  return { past: [], present, future: [] };
}

function pushPast<T>(past: T[], entry: T): T[] {
  const next = past.length >= HISTORY_LIMIT ? past.slice(past.length - HISTORY_LIMIT + 1) : past.slice();
  next.push(entry);
  return next;
}

export function commit<T>(history: History<T>, next: T): History<T> {
  if (Object.is(next, history.present)) return history;
  return { past: pushPast(history.past, history.present), present: next, future: [] };
}

export function replace<T>(history: History<T>, next: T): History<T> {
  if (Object.is(next, history.present)) return history;
  return { ...history, present: next };
}

export function checkpoint<T>(history: History<T>): History<T> {
  return { past: pushPast(history.past, history.present), present: history.present, future: [] };
}

export function undo<T>(history: History<T>): History<T> {
  if (history.past.length === 0) return history;
  const past = history.past.slice(0, -1);
  const previous = history.past[history.past.length - 1] as T;
  return { past, present: previous, future: [history.present, ...history.future] };
}

export function redo<T>(history: History<T>): History<T> {
  if (history.future.length === 0) return history;
  const [next, ...future] = history.future as [T, ...T[]];
  return { past: pushPast(history.past, history.present), present: next, future };
}

export const canUndo = <T,>(history: History<T>): boolean => history.past.length > 0;
export const canRedo = <T,>(history: History<T>): boolean => history.future.length > 0;
