import { describe, expect, it } from 'vitest';
import { defaultChoices, numel, slicedShape, sliceString, type DimChoice } from './slice';

describe('slice helpers', () => {
  it('writes the query string of §4.8, leaving trailing whole dimensions out', () => {
    const choices: DimChoice[] = [{ kind: 'index', index: 0 }, { kind: 'all' }, { kind: 'range', start: 1, stop: 3 }, { kind: 'all' }];
    expect(sliceString(choices)).toBe('0,:,1:3');
    expect(sliceString([{ kind: 'all' }, { kind: 'all' }])).toBe('');
  });

  it('predicts the sliced shape like Python clamping', () => {
    expect(slicedShape([2, 3, 4], [{ kind: 'index', index: -1 }])).toEqual([3, 4]);
    expect(slicedShape([2, 3, 4], [{ kind: 'all' }, { kind: 'range', start: 1, stop: 99 }])).toEqual([2, 2, 4]);
    expect(slicedShape([10], [{ kind: 'range', start: -3, stop: 10 }])).toEqual([3]);
  });

  it('defaults large tensors to a view within the element cap', () => {
    expect(defaultChoices([2, 3], 4096)).toEqual([{ kind: 'all' }, { kind: 'all' }]);
    expect(sliceString(defaultChoices([8, 3, 28, 28], 4096))).toBe('0,0');
    const big = defaultChoices([1000, 1000], 4096);
    expect(sliceString(big)).toBe('0:64,0:64');
    expect(numel(slicedShape([1000, 1000], big))).toBeLessThanOrEqual(4096);
    expect(sliceString(defaultChoices([100000], 4096))).toBe('0:4096');
  });
});
