/** Compact number text for grids and stats: up to 4 significant digits, exponent for extremes. */
export function formatNumber(value: unknown): string {
  if (value === null || value === undefined) return 'NaN/Inf';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value) && value.length === 2) return `${formatNumber(value[0])}${Number(value[1]) < 0 ? '' : '+'}${formatNumber(value[1])}j`;
  if (typeof value !== 'number') return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(3);
  return String(Number(value.toPrecision(4)));
}

/** Every leaf of a nested value list, for client-side statistics. */
export function flatten(values: unknown): unknown[] {
  if (!Array.isArray(values)) return [values];
  const out: unknown[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else out.push(v);
  };
  walk(values);
  return out;
}

/** Population standard deviation over the finite numbers shown; the API itself sends no std. */
export function finiteStd(values: unknown): number | null {
  const nums = flatten(values).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (nums.length === 0) return null;
  const mean = nums.reduce((a, b) => a + b, 0) / nums.length;
  return Math.sqrt(nums.reduce((a, b) => a + (b - mean) * (b - mean), 0) / nums.length);
}

export function finiteRange(values: unknown): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const v of flatten(values)) {
    if (typeof v === 'number' && Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return min <= max ? { min, max } : null;
}
