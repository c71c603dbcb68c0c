import type { CSSProperties, ReactNode } from 'react';
import { formatNumber } from './format';

interface Props {
  values: unknown;
  shape: number[];
}

const ROW_WIDTH_1D = 16;
const MAX_BLOCKS = 64;

function cell(v: unknown, key: number | string): ReactNode {
  const bad = v === null;
  return (
    <td key={key} style={bad ? { ...cellStyle, color: 'var(--error, #f06a6a)' } : cellStyle}>
      {formatNumber(v)}
    </td>
  );
}

function Table2D({ rows, label }: { rows: unknown[][]; label?: string }) {
  const cols = rows.reduce((n, r) => Math.max(n, r.length), 0);
  return (
    <table style={tableStyle}>
      {label && <caption style={{ textAlign: 'left', fontSize: 11, opacity: 0.7 }}>{label}</caption>}
      <thead>
        <tr>
          <th style={headStyle} />
          {Array.from({ length: cols }, (_, c) => (
            <th key={c} style={headStyle}>
              {c}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, r) => (
          <tr key={r}>
            <th style={headStyle}>{r}</th>
            {row.map(cell)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Table1D({ values }: { values: unknown[] }) {
  const rows: unknown[][] = [];
  for (let i = 0; i < values.length; i += ROW_WIDTH_1D) rows.push(values.slice(i, i + ROW_WIDTH_1D));
  return (
    <table style={tableStyle}>
      <tbody>
        {rows.map((row, r) => (
          <tr key={r}>
            <th style={headStyle}>{r * ROW_WIDTH_1D}</th>
            {row.map(cell)}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Splits an N-d list (N > 2) into labelled 2-d blocks such as `[0, 1, :, :]`. */
function blocks(values: unknown, depth: number, prefix: number[], out: Array<{ label: string; rows: unknown[][] }>) {
  if (out.length >= MAX_BLOCKS || !Array.isArray(values)) return;
  if (depth === 2) {
    out.push({ label: `[${[...prefix, ':', ':'].join(', ')}]`, rows: values as unknown[][] });
    return;
  }
  values.forEach((v, i) => blocks(v, depth - 1, [...prefix, i], out));
}

/** The (sliced) tensor values as tables: a scalar, a wrapped row, a matrix, or matrices per leading index. */
export function ValueGrid({ values, shape }: Props) {
  let body: ReactNode;
  if (shape.length === 0) {
    body = (
      <table style={tableStyle}>
        <tbody>
          <tr>{cell(values, 0)}</tr>
        </tbody>
      </table>
    );
  } else if (shape.length === 1) {
    body = <Table1D values={Array.isArray(values) ? values : []} />;
  } else if (shape.length === 2) {
    body = <Table2D rows={Array.isArray(values) ? (values as unknown[][]) : []} />;
  } else {
    const list: Array<{ label: string; rows: unknown[][] }> = [];
    blocks(values, shape.length, [], list);
    body = (
      <>
        {list.map((b) => (
          <Table2D key={b.label} rows={b.rows} label={b.label} />
        ))}
        {list.length >= MAX_BLOCKS && <p style={{ fontSize: 11 }}>Only the first {MAX_BLOCKS} blocks are shown; slice to see others.</p>}
      </>
    );
  }
  return (
    <div data-testid="tensor-grid" style={{ overflow: 'auto', maxHeight: 360 }}>
      {body}
    </div>
  );
}

const tableStyle: CSSProperties = { borderCollapse: 'collapse', fontFamily: 'monospace', fontSize: 11, marginBottom: 6 };
const cellStyle: CSSProperties = { padding: '1px 5px', textAlign: 'right', border: '1px solid rgba(128,128,128,0.25)' };
const headStyle: CSSProperties = { padding: '1px 5px', opacity: 0.6, fontWeight: 400, textAlign: 'right' };
