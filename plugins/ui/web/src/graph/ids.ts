// Node ids the editor creates: readable, type-based and unique within one graph. "__" is reserved
// by the engine for expanded preset members (engine.md §1.2), so it never appears in them.

export function idStem(nodeType: string): string {
  const bare = nodeType.startsWith('preset:') ? nodeType.slice('preset:'.length) : nodeType.split(':').pop() ?? nodeType;
  const cleaned = bare.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/_+/g, '_').replace(/^_+|_+$/g, '');
  return cleaned || 'node';
}

export function uniqueNodeId(nodeType: string, taken: ReadonlySet<string>): string {
  const stem = idStem(nodeType);
  for (let n = 1; ; n += 1) {
    const candidate = `${stem}_${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

let edgeCounter = 0;

export function uniqueEdgeId(taken: ReadonlySet<string>): string {
  for (;;) {
    edgeCounter += 1;
    const candidate = `e${Date.now().toString(36)}${edgeCounter.toString(36)}`;
    if (!taken.has(candidate)) return candidate;
  }
}
