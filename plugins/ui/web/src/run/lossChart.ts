// Geometry of the loss chart: series scaled into a box, gaps where a loss was not finite.

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
}

export interface Box {
  width: number;
  height: number;
  pad: number;
}

export function valueRange(series: readonly ChartSeries[]): { min: number; max: number } | null {
  let min = Infinity;
  let max = -Infinity;
  for (const s of series) {
    for (const v of s.values) {
      if (v === null || !Number.isFinite(v)) continue;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
  }
  if (min === Infinity) return null;
  if (min === max) return { min: min - 1e-9 - Math.abs(min) * 0.05, max: max + 1e-9 + Math.abs(max) * 0.05 };
  return { min, max };
}

/** SVG path data, one "M…L…" run per stretch of finite values. */
export function linePath(values: ReadonlyArray<number | null>, count: number, range: { min: number; max: number }, box: Box): string {
  const w = box.width - 2 * box.pad;
  const h = box.height - 2 * box.pad;
  const x = (i: number) => box.pad + (count <= 1 ? w / 2 : (i / (count - 1)) * w);
  const y = (v: number) => box.pad + h - ((v - range.min) / (range.max - range.min)) * h;
  let path = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      pen = false;
      return;
    }
    path += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  });
  return path;
}
