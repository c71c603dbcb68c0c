import { useCallback } from 'react';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { useResource } from '../views/common/useResource';
import { loadModelOptions } from './modelOptions';

interface Props {
  value: string;
  onChange(v: string): void;
  category?: string;
}

export function ModelFileSelect({ value, onChange, category }: Props) {
  const load = useCallback(() => loadModelOptions(category), [category]);
  const { data, error, loading, reload } = useResource(load, category ?? '');
  const options = data ?? [];
  // A graph may name a file that is gone; keep it visible rather than silently changing the value.
  const missing = value !== '' && !options.some((o) => o.value === value);
  return (
    <span className="nl-model-select" style={{ display: 'inline-flex', flexDirection: 'column', gap: 2 }}>
      <span style={{ display: 'inline-flex', gap: 4 }}>
        <select value={value} onChange={(e) => onChange(e.target.value)} disabled={loading && !data} aria-label="model file">
          <option value="">(none)</option>
          {missing && <option value={value}>{value} (missing)</option>}
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => void reload()} title="Refresh the list">
          ↻
        </button>
      </span>
      <ErrorMessage error={error} />
    </span>
  );
}
