import { useEffect, useRef, type KeyboardEvent, type PointerEvent } from 'react';
import { fractionToTime, timeToFraction } from './range';

interface Props {
  peaks: Array<[number, number]> | null;
  duration: number | null;
  start: number;
  end: number;
  onChange(start: number, end: number): void;
}

const WIDTH = 800;
const HEIGHT = 120;
const KEY_STEP_S = 0.1;

function draw(canvas: HTMLCanvasElement, peaks: Array<[number, number]> | null) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, WIDTH, HEIGHT);
  const mid = HEIGHT / 2;
  ctx.fillStyle = '#4f9cf7';
  if (!peaks) {
    // Undecodable audio: a flat bar still gives the handles something to sit on.
    ctx.fillRect(0, mid - 6, WIDTH, 12);
    return;
  }
  const barWidth = WIDTH / peaks.length;
  peaks.forEach(([lo, hi], i) => {
    const top = mid - hi * mid;
    const height = Math.max(1, (hi - lo) * mid);
    ctx.fillRect(i * barWidth, top, Math.max(1, barWidth), height);
  });
}

export function Waveform({ peaks, duration, start, end, onChange }: Props) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const box = useRef<HTMLDivElement>(null);
  const dragging = useRef<'start' | 'end' | null>(null);
  const total = duration ?? 0;

  useEffect(() => {
    if (canvas.current) draw(canvas.current, peaks);
  }, [peaks]);

  function timeAt(clientX: number): number {
    const rect = box.current?.getBoundingClientRect();
    if (!rect || rect.width <= 0) return 0;
    return fractionToTime((clientX - rect.left) / rect.width, total);
  }

  function move(handle: 'start' | 'end', t: number) {
    if (handle === 'start') onChange(Math.min(t, end), end);
    else onChange(start, Math.max(t, start));
  }

  function onPointerDown(event: PointerEvent<HTMLDivElement>) {
    if (!total) return;
    const t = timeAt(event.clientX);
    const target = (event.target as HTMLElement).dataset.handle as 'start' | 'end' | undefined;
    // A click on the waveform itself grabs whichever handle is closer.
    const handle = target ?? (Math.abs(t - start) <= Math.abs(t - end) ? 'start' : 'end');
    dragging.current = handle;
    event.currentTarget.setPointerCapture?.(event.pointerId);
    move(handle, t);
  }

  function onPointerMove(event: PointerEvent<HTMLDivElement>) {
    if (dragging.current) move(dragging.current, timeAt(event.clientX));
  }

  function onKey(handle: 'start' | 'end', event: KeyboardEvent<HTMLDivElement>) {
    const delta = event.key === 'ArrowLeft' ? -KEY_STEP_S : event.key === 'ArrowRight' ? KEY_STEP_S : 0;
    if (!delta || !total) return;
    event.preventDefault();
    const current = handle === 'start' ? start : end;
    move(handle, Math.min(total, Math.max(0, current + delta)));
  }

  const left = timeToFraction(start, total) * 100;
  const right = timeToFraction(end, total) * 100;
  return (
    <div
      ref={box}
      data-testid="audio-waveform"
      data-decoded={peaks ? 'true' : 'false'}
      style={{ position: 'relative', width: '100%', maxWidth: WIDTH, height: HEIGHT, background: 'rgba(128,128,128,0.12)', touchAction: 'none', userSelect: 'none' }}
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={() => (dragging.current = null)}
      onPointerCancel={() => (dragging.current = null)}
    >
      <canvas ref={canvas} width={WIDTH} height={HEIGHT} style={{ width: '100%', height: '100%', display: 'block' }} />
      {total > 0 && (
        <>
          <div style={{ position: 'absolute', top: 0, bottom: 0, left: `${left}%`, width: `${Math.max(0, right - left)}%`, background: 'rgba(255,200,0,0.25)', pointerEvents: 'none' }} />
          {(['start', 'end'] as const).map((handle) => (
            <div
              key={handle}
              data-handle={handle}
              data-testid={`audio-handle-${handle}`}
              role="slider"
              tabIndex={0}
              aria-label={`${handle} of selection`}
              aria-valuemin={0}
              aria-valuemax={total}
              aria-valuenow={handle === 'start' ? start : end}
              onKeyDown={(e) => onKey(handle, e)}
              style={{ position: 'absolute', top: 0, bottom: 0, left: `calc(${handle === 'start' ? left : right}% - 4px)`, width: 8, background: '#ffb000', cursor: 'ew-resize' }}
            />
          ))}
        </>
      )}
    </div>
  );
}
