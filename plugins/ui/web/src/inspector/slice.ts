// Per-dimension slice choices and their query string (api.md §4.8).

export type DimChoice = { kind: 'all' } | { kind: 'index'; index: number } | { kind: 'range'; start: number; stop: number };

export function numel(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

function pieceOf(choice: DimChoice): string {
  if (choice.kind === 'index') return String(choice.index);
  if (choice.kind === 'range') return `${choice.start}:${choice.stop}`;
  return ':';
}

/** `""` when nothing is sliced; trailing whole dimensions are left out, as the server keeps them. */
export function sliceString(choices: DimChoice[]): string {
  let last = choices.length - 1;
  while (last >= 0 && choices[last].kind === 'all') last -= 1;
  return choices.slice(0, last + 1).map(pieceOf).join(',');
}

/** The shape the server will answer with, using Python's clamping for ranges. */
export function slicedShape(shape: number[], choices: DimChoice[]): number[] {
  const out: number[] = [];
  shape.forEach((size, d) => {
    const c = choices[d] ?? { kind: 'all' };
    if (c.kind === 'index') return;
    if (c.kind === 'all') {
      out.push(size);
      return;
    }
    const norm = (v: number) => Math.min(size, Math.max(0, v < 0 ? v + size : v));
    out.push(Math.max(0, norm(c.stop) - norm(c.start)));
  });
  return out;
}

export function choiceValid(size: number, c: DimChoice): boolean {
  if (c.kind === 'index') return Number.isInteger(c.index) && c.index >= -size && c.index < size;
  if (c.kind === 'range') return Number.isInteger(c.start) && Number.isInteger(c.stop);
  return true;
}

/**
 * A view that fits the element cap: index 0 on leading dimensions until at most two remain, then
 * ranges from the start of the remaining ones.
 */
export function defaultChoices(shape: number[], maxElements: number): DimChoice[] {
  const choices: DimChoice[] = shape.map(() => ({ kind: 'all' }));
  if (numel(shape) <= maxElements && shape.length <= 2) return choices;
  let kept = shape.length;
  for (let d = 0; d < shape.length && kept > 2; d += 1) {
    if (shape[d] === 0) break;
    choices[d] = { kind: 'index', index: 0 };
    kept -= 1;
  }
  const rest = shape.map((size, d) => ({ size, d })).filter(({ d }) => choices[d].kind === 'all');
  if (numel(rest.map((r) => r.size)) <= maxElements) return choices;
  if (rest.length === 1) {
    choices[rest[0].d] = { kind: 'range', start: 0, stop: maxElements };
    return choices;
  }
  const [rows, cols] = rest;
  const side = Math.max(1, Math.floor(Math.sqrt(maxElements)));
  const colCount = Math.min(cols.size, side);
  const rowCount = Math.min(rows.size, Math.max(1, Math.floor(maxElements / colCount)));
  if (colCount < cols.size) choices[cols.d] = { kind: 'range', start: 0, stop: colCount };
  if (rowCount < rows.size) choices[rows.d] = { kind: 'range', start: 0, stop: rowCount };
  return choices;
}
