// Collects WebSocket events and hands them over once per animation frame, so a run that reports
// hundreds of node events per second costs one state update (and one render) per frame.

export type Scheduler = (callback: () => void) => unknown;

const defaultScheduler: Scheduler = (callback) =>
  typeof requestAnimationFrame === 'function' ? requestAnimationFrame(() => callback()) : setTimeout(callback, 16);

export interface Batcher<T> {
  push(item: T): void;
  /** Deliver what is queued now (e.g. before sending a message that depends on it). */
  flush(): void;
  pending(): number;
}

export function createBatcher<T>(deliver: (items: T[]) => void, schedule: Scheduler = defaultScheduler): Batcher<T> {
  let queue: T[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (queue.length === 0) return;
    const items = queue;
    queue = [];
    deliver(items);
  };
  return {
    push(item) {
      queue.push(item);
      if (!scheduled) {
        scheduled = true;
        schedule(flush);
      }
    },
    flush,
    pending: () => queue.length,
  };
}
