import { useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { colorAt, cssColor, legendGradient, scaleFor } from './colorScale';
import { formatNumber } from './format';

interface Props {
  rows: unknown[][];
}

const TARGET_PX = 320;

function numeric(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return null;
}

/** A 2-d tensor as coloured cells with a legend; non-finite cells are magenta. */
export function Heatmap({ rows }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<string | null>(null);
  const grid = useMemo(() => rows.map((r) => r.map(numeric)), [rows]);
  const height = grid.length;
  const width = grid.reduce((n, r) => Math.max(n, r.length), 0);
  const cellPx = Math.max(1, Math.min(24, Math.floor(TARGET_PX / Math.max(1, width, height))));

  const range = useMemo(() => {
    let min = Infinity;
    let max = -Infinity;
    for (const row of grid) for (const v of row) if (v !== null) [min, max] = [Math.min(min, v), Math.max(max, v)];
    return min <= max ? { min, max } : { min: 0, max: 0 };
  }, [grid]);
  const scale = useMemo(() => scaleFor(range.min, range.max), [range]);

  useEffect(() => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    grid.forEach((row, r) =>
      row.forEach((v, c) => {
        ctx.fillStyle = cssColor(colorAt(scale, v));
        ctx.fillRect(c * cellPx, r * cellPx, cellPx, cellPx);
      }),
    );
  }, [grid, scale, cellPx]);

  function onMove(event: MouseEvent<HTMLCanvasElement>) {
    const rect = event.currentTarget.getBoundingClientRect();
    const c = Math.floor(((event.clientX - rect.left) / rect.width) * width);
    const r = Math.floor(((event.clientY - rect.top) / rect.height) * height);
    setHover(r >= 0 && r < height && c >= 0 && c < width ? `[${r}, ${c}] = ${formatNumber(rows[r]?.[c])}` : null);
  }

  return (
    <div data-testid="tensor-heatmap" style={{ display: 'inline-flex', flexDirection: 'column', gap: 4 }}>
      <canvas
        ref={canvas}
        width={width * cellPx}
        height={height * cellPx}
        onMouseMove={onMove}
        onMouseLeave={() => setHover(null)}
        style={{ imageRendering: 'pixelated', border: '1px solid rgba(128,128,128,0.4)', maxWidth: '100%' }}
        aria-label={`heatmap ${height}×${width}`}
      />
      <div data-testid="tensor-heatmap-legend" style={{ width: Math.max(160, Math.min(width * cellPx, TARGET_PX)) }}>
        <div style={{ height: 10, background: legendGradient(scale) }} />
        <div style={{ display: 'flex', justifyContent: 'space-between', fontSize: 11 }}>
          <span>{formatNumber(scale.low)}</span>
          {scale.kind === 'diverging' && <span>0</span>}
          <span>{formatNumber(scale.high)}</span>
        </div>
      </div>
      <span style={{ fontSize: 11, minHeight: 14, fontFamily: 'monospace' }}>{hover ?? ' '}</span>
    </div>
  );
}
