// The draggable left edge of the right panel. The inspector and the params panel keep widths of
// their own: the inspector needs room for grids and heatmaps that a params form does not.
import { useCallback, useRef, useState, type PointerEvent as ReactPointerEvent } from 'react';

export type PanelMode = 'params' | 'inspector';

const DEFAULTS: Record<PanelMode, number> = { params: 310, inspector: 480 };
const MIN_WIDTH = 240;
// The palette (230 px) and a usable canvas must stay on screen.
const RESERVED = 230 + 360;
const STORAGE_KEY = 'nodeloom.rightPanelWidth';

function clamp(width: number): number {
  const max = Math.max(MIN_WIDTH, (typeof window === 'undefined' ? 1440 : window.innerWidth) - RESERVED);
  return Math.round(Math.min(max, Math.max(MIN_WIDTH, width)));
}

function stored(): Partial<Record<PanelMode, number>> {
  try {
    const value: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? '{}');
    return value && typeof value === 'object' ? (value as Partial<Record<PanelMode, number>>) : {};
  } catch {
    return {};
  }
}

export function useRightPanelWidth(mode: PanelMode): [number, (width: number | null) => void] {
  const [custom, setCustom] = useState(stored);
  const width = clamp(custom[mode] ?? DEFAULTS[mode]);
  const setWidth = useCallback(
    (next: number | null) =>
      setCustom((current) => {
        const updated = { ...current };
        if (next === null) delete updated[mode];
        else updated[mode] = clamp(next);
        try {
          localStorage.setItem(STORAGE_KEY, JSON.stringify(updated));
        } catch {
          // ignored: the width then lasts for this page only
        }
        return updated;
      }),
    [mode],
  );
  return [width, setWidth];
}

interface Props {
  width: number;
  onResize(width: number | null): void;
}

export function RightResizer({ width, onResize }: Props) {
  const drag = useRef<{ x: number; width: number } | null>(null);
  const [dragging, setDragging] = useState(false);

  const onPointerDown = (event: ReactPointerEvent<HTMLDivElement>) => {
    if (event.button !== 0) return;
    event.preventDefault();
    event.currentTarget.setPointerCapture(event.pointerId);
    drag.current = { x: event.clientX, width };
    setDragging(true);
  };
  const onPointerMove = (event: ReactPointerEvent<HTMLDivElement>) => {
    if (drag.current) onResize(drag.current.width + drag.current.x - event.clientX);
  };
  const end = () => {
    drag.current = null;
    setDragging(false);
  };

  return (
    <div
      className={dragging ? 'nl-resizer nl-dragging' : 'nl-resizer'}
      data-testid="right-panel-resizer"
      role="separator"
      aria-orientation="vertical"
      aria-valuenow={width}
      title="Drag to resize; double-click for the default width"
      onPointerDown={onPointerDown}
      onPointerMove={onPointerMove}
      onPointerUp={end}
      onPointerCancel={end}
      onDoubleClick={() => onResize(null)}
    />
  );
}
