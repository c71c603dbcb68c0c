// What code outside the canvas (palette clicks, the bridge) needs from the mounted React Flow view.
import type { XYPosition } from '@xyflow/react';

export interface CanvasApi {
  /** The flow position at the centre of the visible canvas. */
  centre(): XYPosition;
}

let current: CanvasApi | null = null;

export function registerCanvasApi(api: CanvasApi | null): void {
  current = api;
}

export function canvasCentre(): XYPosition {
  return current?.centre() ?? { x: 0, y: 0 };
}
