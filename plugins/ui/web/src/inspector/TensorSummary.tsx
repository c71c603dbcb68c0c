import type { CSSProperties } from 'react';
import { finiteStd, formatNumber } from './format';
import type { TensorBody } from './types';

function isComplex(dtype: string): boolean {
  return dtype.includes('complex');
}

/** Shape, dtype and the statistics of §4.7 (computed by the server over the sliced data). */
export function TensorSummary({ body }: { body: TensorBody }) {
  const sliced = body.slice !== '' && body.slice.trim() !== '';
  const stats: Array<[string, unknown]> = [];
  if (body.min !== undefined) stats.push(['min', body.min]);
  if (body.max !== undefined) stats.push(['max', body.max]);
  if (body.mean !== undefined) stats.push(['mean', body.mean]);
  // The API has no std; it is derived here from the very values it sent (the sliced data, never down-sampled).
  if (body.mean !== undefined && !isComplex(body.dtype)) {
    const std = finiteStd(body.values);
    if (std !== null) stats.push(['std', std]);
  }
  if (body.nan_count !== undefined) stats.push(['NaN', body.nan_count]);
  if (body.inf_count !== undefined) stats.push(['Inf', body.inf_count]);

  return (
    <div style={{ display: 'flex', flexWrap: 'wrap', gap: '2px 14px', fontSize: 12 }}>
      <span data-testid="tensor-shape">
        shape [{body.full_shape.join(', ')}]{sliced && ` → [${body.sliced_shape.join(', ')}] (slice ${body.slice})`}
      </span>
      <span data-testid="tensor-dtype">{body.dtype}</span>
      <span data-testid="tensor-stats" style={statsStyle}>
        {stats.length === 0 && <span style={{ opacity: 0.7 }}>no statistics for this dtype</span>}
        {stats.map(([label, value]) => (
          <span key={label}>
            <span style={labelStyle}>{label}</span> {label === 'NaN' || label === 'Inf' ? String(value) : formatNumber(value)}
          </span>
        ))}
      </span>
    </div>
  );
}

const labelStyle: CSSProperties = { opacity: 0.6 };
// A row of its own laid out as a grid, so no statistic is pushed out of a narrow panel.
const statsStyle: CSSProperties = {
  display: 'grid',
  gridTemplateColumns: 'repeat(auto-fill, minmax(92px, 1fr))',
  gap: '2px 10px',
  flexBasis: '100%',
  minWidth: 0,
};
