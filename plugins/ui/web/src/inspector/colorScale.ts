// Colour scales for the heatmap: diverging around zero for signed data (the sign is usually what
// matters for weights and gradients), sequential otherwise.

export type RGB = [number, number, number];

export interface Scale {
  kind: 'diverging' | 'sequential';
  low: number;
  high: number;
}

const SEQUENTIAL: RGB[] = [
  [68, 1, 84],
  [59, 82, 139],
  [33, 145, 140],
  [94, 201, 98],
  [253, 231, 37],
];
const DIVERGING: RGB[] = [
  [33, 102, 172],
  [247, 247, 247],
  [178, 24, 43],
];
export const NONFINITE_COLOR: RGB = [255, 0, 255];

export function scaleFor(min: number, max: number): Scale {
  if (min < 0 && max > 0) {
    const bound = Math.max(-min, max);
    return { kind: 'diverging', low: -bound, high: bound };
  }
  return { kind: 'sequential', low: min, high: max };
}

function stops(scale: Scale): RGB[] {
  return scale.kind === 'diverging' ? DIVERGING : SEQUENTIAL;
}

function interpolate(palette: RGB[], t: number): RGB {
  const x = Math.min(1, Math.max(0, t)) * (palette.length - 1);
  const i = Math.min(palette.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [palette[i], palette[i + 1]];
  return [0, 1, 2].map((k) => Math.round(a[k] + (b[k] - a[k]) * f)) as RGB;
}

export function colorAt(scale: Scale, value: number | null): RGB {
  if (value === null || !Number.isFinite(value)) return NONFINITE_COLOR;
  const span = scale.high - scale.low;
  const t = span > 0 ? (value - scale.low) / span : 0.5;
  return interpolate(stops(scale), t);
}

export function cssColor([r, g, b]: RGB): string {
  return `rgb(${r}, ${g}, ${b})`;
}

export function legendGradient(scale: Scale): string {
  const palette = stops(scale);
  return `linear-gradient(to right, ${palette.map((c, i) => `${cssColor(c)} ${(i / (palette.length - 1)) * 100}%`).join(', ')})`;
}
