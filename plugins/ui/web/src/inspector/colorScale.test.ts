import { describe, expect, it } from 'vitest';
import { NONFINITE_COLOR, colorAt, scaleFor } from './colorScale';

describe('colour scale', () => {
  it('is diverging and symmetric for signed data', () => {
    const scale = scaleFor(-1, 4);
    expect(scale).toEqual({ kind: 'diverging', low: -4, high: 4 });
    expect(colorAt(scale, 0)).toEqual([247, 247, 247]);
    expect(colorAt(scale, -4)).toEqual([33, 102, 172]);
    expect(colorAt(scale, 4)).toEqual([178, 24, 43]);
  });

  it('is sequential for one-signed data, flat when constant, magenta for non-finite', () => {
    const scale = scaleFor(0, 10);
    expect(scale.kind).toBe('sequential');
    expect(colorAt(scale, 0)).toEqual([68, 1, 84]);
    expect(colorAt(scale, 10)).toEqual([253, 231, 37]);
    expect(colorAt(scaleFor(3, 3), 3)).toEqual([33, 145, 140]);
    expect(colorAt(scale, null)).toEqual(NONFINITE_COLOR);
  });
});
