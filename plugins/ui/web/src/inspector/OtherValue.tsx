import { formatNumber } from './format';
import type { OtherBody } from './types';

const preStyle = { whiteSpace: 'pre-wrap' as const, fontSize: 12, maxHeight: 320, overflow: 'auto', margin: 0 };

/** Non-tensor values (§4.7): scalars, strings, lists, models and anything else by its repr. */
export function OtherValue({ body }: { body: OtherBody }) {
  switch (body.type) {
    case 'scalar':
      return (
        <div data-testid="value-scalar">
          {body.value === null ? (body.nonfinite ?? 'NaN') : formatNumber(body.value)}
        </div>
      );
    case 'string':
      return (
        <div>
          <pre data-testid="value-string" style={preStyle}>
            {String(body.value ?? '')}
          </pre>
          {typeof body.length === 'number' && body.length > String(body.value ?? '').length && (
            <span style={{ fontSize: 11, opacity: 0.7 }}>first {String(body.value ?? '').length} of {body.length} characters</span>
          )}
        </div>
      );
    case 'list':
      return (
        <div data-testid="value-list">
          <div style={{ fontSize: 12 }}>list of {body.length}</div>
          {Array.isArray(body.values) ? (
            <ol start={0} style={{ fontFamily: 'monospace', fontSize: 12, maxHeight: 320, overflow: 'auto', margin: 0 }}>
              {body.values.map((v, i) => (
                <li key={i}>{Array.isArray(v) ? `(${v.map(formatNumber).join(', ')})` : typeof v === 'string' ? JSON.stringify(v) : formatNumber(v)}</li>
              ))}
            </ol>
          ) : (
            <pre style={preStyle}>{body.repr}</pre>
          )}
        </div>
      );
    case 'model':
      return (
        <div data-testid="value-model">
          <div style={{ fontSize: 12 }}>
            {body.class} · {body.params?.toLocaleString()} params ({body.trainable?.toLocaleString()} trainable)
          </div>
          <pre style={preStyle}>{body.repr}</pre>
        </div>
      );
    default:
      return (
        <div data-testid="value-other">
          <div style={{ fontSize: 12 }}>{body.type}</div>
          <pre style={preStyle}>{body.repr}</pre>
        </div>
      );
  }
}
