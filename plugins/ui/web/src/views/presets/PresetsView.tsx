import { useState } from 'react';
import { apiGet } from '../../api/http';
import type { ExposedPort, PresetDefinition } from '../../api/types';
import { useEditorBridge } from '../../editor/bridge';
import { ErrorMessage } from '../common/ErrorMessage';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from '../common/layout';
import { useResource } from '../common/useResource';
import { PresetCreateForm } from './PresetCreateForm';

const loadPresets = () => apiGet<PresetDefinition[]>('/api/presets');

function portList(ports: ExposedPort[]): string {
  return ports.length ? ports.map((p) => `${p.name}: ${p.data_type || 'ANY'}`).join(', ') : 'none';
}

export function PresetsView() {
  const bridge = useEditorBridge();
  const { data, error, reload } = useResource(loadPresets);
  const [filter, setFilter] = useState('');
  const needle = filter.trim().toLowerCase();
  const shown = (data ?? []).filter(
    (p) => !needle || `${p.preset_name} ${p.category} ${p.description} ${p.tags.join(' ')}`.toLowerCase().includes(needle),
  );

  return (
    <ViewFrame id="presets" title="Presets" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <PresetCreateForm bridge={bridge} presets={data ?? []} onCreated={() => reload()} />
      <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Filter presets" aria-label="filter presets" />
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No presets.</p>}
      <ul style={listStyle}>
        {shown.map((p) => {
          const available = p.available !== false;
          return (
            <li key={p.preset_name} data-testid={`preset-item-${p.preset_name}`} style={rowStyle}>
              <span style={{ flex: 1, minWidth: 0 }}>
                <strong>{p.preset_name}</strong>{' '}
                <span style={mutedStyle}>
                  {p.category}
                  {p.source ? ` · ${p.source}` : ''} · {p.nodes.length} nodes · {p.exposed_params.length} params
                </span>
                {p.description && <div style={mutedStyle}>{p.description}</div>}
                <div style={{ fontSize: 12 }}>
                  <span title="inputs">in: {portList(p.exposed_inputs)}</span>
                  <br />
                  <span title="outputs">out: {portList(p.exposed_outputs)}</span>
                </div>
                {p.tags.length > 0 && <div style={mutedStyle}>#{p.tags.join(' #')}</div>}
                {!available && <div style={{ color: 'var(--error, #f06a6a)', fontSize: 12 }}>{p.error ?? 'Unavailable'}</div>}
              </span>
              <button data-testid={`preset-insert-${p.preset_name}`} disabled={!available} onClick={() => bridge.insertPreset(p.preset_name)}>
                Insert
              </button>
            </li>
          );
        })}
      </ul>
    </ViewFrame>
  );
}
