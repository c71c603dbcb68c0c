import type { CSSProperties } from 'react';
import { choiceValid, type DimChoice } from './slice';

interface Props {
  shape: number[];
  choices: DimChoice[];
  onChange(choices: DimChoice[]): void;
}

function asInt(text: string, fallback: number): number {
  const v = Number.parseInt(text, 10);
  return Number.isFinite(v) ? v : fallback;
}

/** One row per dimension: keep it whole, pick one index, or a start:stop range. */
export function SliceControls({ shape, choices, onChange }: Props) {
  function set(d: number, choice: DimChoice) {
    const next = shape.map((_, i) => choices[i] ?? ({ kind: 'all' } as DimChoice));
    next[d] = choice;
    onChange(next);
  }

  return (
    <div data-testid="tensor-slice-controls" style={{ display: 'flex', flexDirection: 'column', gap: 2, fontSize: 12 }}>
      {shape.map((size, d) => {
        const c = choices[d] ?? { kind: 'all' };
        const bad = !choiceValid(size, c);
        return (
          <div key={d} style={{ display: 'flex', gap: 4, alignItems: 'center' }}>
            <span style={{ width: 90 }}>
              dim {d} <span style={{ opacity: 0.6 }}>({size})</span>
            </span>
            <select
              data-testid={`slice-kind-${d}`}
              value={c.kind}
              onChange={(e) => {
                const kind = e.target.value;
                if (kind === 'index') set(d, { kind: 'index', index: 0 });
                else if (kind === 'range') set(d, { kind: 'range', start: 0, stop: size });
                else set(d, { kind: 'all' });
              }}
            >
              <option value="all">all</option>
              <option value="index">index</option>
              <option value="range">range</option>
            </select>
            {c.kind === 'index' && (
              <input
                data-testid={`slice-index-${d}`}
                type="number"
                min={-size}
                max={size - 1}
                value={c.index}
                onChange={(e) => set(d, { kind: 'index', index: asInt(e.target.value, 0) })}
                style={numStyle(bad)}
              />
            )}
            {c.kind === 'range' && (
              <>
                <input
                  data-testid={`slice-start-${d}`}
                  type="number"
                  value={c.start}
                  onChange={(e) => set(d, { ...c, start: asInt(e.target.value, 0) })}
                  style={numStyle(bad)}
                />
                :
                <input
                  data-testid={`slice-stop-${d}`}
                  type="number"
                  value={c.stop}
                  onChange={(e) => set(d, { ...c, stop: asInt(e.target.value, size) })}
                  style={numStyle(bad)}
                />
              </>
            )}
          </div>
        );
      })}
    </div>
  );
}

function numStyle(bad: boolean): CSSProperties {
  return { width: 64, ...(bad ? { outline: '1px solid var(--error, #f06a6a)' } : {}) };
}
