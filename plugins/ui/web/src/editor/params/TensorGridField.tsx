// tensor_grid params: null or a nested list of numbers. A cell grid for 1-D and 2-D values, and the
// JSON text for any shape.
import { useEffect, useState } from 'react';
import type { ParamDefinition } from '../../api/types';

interface Props {
  def: ParamDefinition;
  value: unknown;
  onChange(value: unknown): void;
}

export function isNumberGrid(value: unknown): boolean {
  if (value === null) return true;
  if (typeof value === 'number') return Number.isFinite(value);
  return Array.isArray(value) && value.every(isNumberGrid) && value.every((v) => v !== null);
}

export function parseGrid(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  const trimmed = text.trim();
  if (trimmed === '' || trimmed === 'null') return { ok: true, value: null };
  try {
    const value: unknown = JSON.parse(trimmed);
    if (!Array.isArray(value) || !isNumberGrid(value)) return { ok: false, message: 'Expected a nested list of numbers, e.g. [[1, 2], [3, 4]]' };
    return { ok: true, value };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : 'Invalid JSON' };
  }
}

function toRows(value: unknown): number[][] | null {
  if (!Array.isArray(value)) return null;
  if (value.every((v) => typeof v === 'number')) return [value as number[]];
  if (value.every((row) => Array.isArray(row) && row.every((v) => typeof v === 'number'))) return value as number[][];
  return null;
}

function compact(value: unknown): string {
  return value === null || value === undefined ? '' : JSON.stringify(value);
}

export function TensorGridField({ def, value, onChange }: Props) {
  const [text, setText] = useState(compact(value));
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    setText(compact(value));
    setProblem(null);
  }, [value]);

  const rows = toRows(value);
  const oneDim = Array.isArray(value) && value.every((v) => typeof v === 'number');

  const setCell = (r: number, c: number, cell: string) => {
    const n = Number(cell);
    if (!rows || cell.trim() === '' || !Number.isFinite(n)) return;
    const next = rows.map((row, i) => (i === r ? row.map((v, j) => (j === c ? n : v)) : row));
    onChange(oneDim ? next[0] : next);
  };

  return (
    <div className="nl-grid-field">
      {rows && rows.length > 0 && rows.length * (rows[0]?.length ?? 0) <= 256 && (
        <table className="nl-grid">
          <tbody>
            {rows.map((row, r) => (
              <tr key={r}>
                {row.map((cell, c) => (
                  <td key={c}>
                    <input
                      type="number"
                      step="any"
                      data-testid={`param-${def.name}-cell-${r}-${c}`}
                      defaultValue={cell}
                      key={`${r}-${c}-${cell}`}
                      onBlur={(e) => setCell(r, c, e.target.value)}
                    />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <textarea
        data-testid={`param-${def.name}`}
        className={problem ? 'nl-invalid' : undefined}
        rows={2}
        spellCheck={false}
        placeholder="null"
        value={text}
        onChange={(e) => {
          setText(e.target.value);
          const parsed = parseGrid(e.target.value);
          setProblem(parsed.ok ? null : parsed.message);
        }}
        onBlur={() => {
          const parsed = parseGrid(text);
          if (parsed.ok) {
            if (JSON.stringify(parsed.value) !== JSON.stringify(value ?? null)) onChange(parsed.value);
          } else setProblem(parsed.message);
        }}
      />
      {problem && <div className="nl-field-problem">{problem}</div>}
    </div>
  );
}
