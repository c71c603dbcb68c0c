import { useState } from 'react';
import { apiGet } from '../api/http';
import type { Graph } from '../api/types';
import { useEditorBridge } from '../editor/bridge';
import { ErrorMessage } from './common/ErrorMessage';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from './common/layout';
import { useResource } from './common/useResource';

interface ExampleItem {
  name: string;
  description: string;
  category: string;
  path: string;
  source: string;
  node_count: number;
  edge_count: number;
}

const loadExamples = () => apiGet<ExampleItem[]>('/api/examples/list');

function byCategory(items: ExampleItem[]): Array<[string, ExampleItem[]]> {
  const groups = new Map<string, ExampleItem[]>();
  for (const item of items) groups.set(item.category, [...(groups.get(item.category) ?? []), item]);
  return [...groups.entries()];
}

export function ExamplesView() {
  const bridge = useEditorBridge();
  const { data, error, reload } = useResource(loadExamples);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [filter, setFilter] = useState('');

  async function open(item: ExampleItem) {
    setLoadError(null);
    try {
      const graph = await apiGet<Graph>(`/api/examples/load?path=${encodeURIComponent(item.path)}`);
      bridge.openGraph(graph, item.name);
    } catch (e) {
      setLoadError(e);
    }
  }

  const needle = filter.trim().toLowerCase();
  const shown = (data ?? []).filter(
    (item) => !needle || `${item.name} ${item.description} ${item.category}`.toLowerCase().includes(needle),
  );

  return (
    <ViewFrame id="examples" title="Examples" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <input value={filter} onChange={(e) => setFilter(e.target.value)} placeholder="Filter examples" aria-label="filter examples" />
      <ErrorMessage error={loadError} testId="example-error" />
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No examples are installed.</p>}
      {byCategory(shown).map(([category, items]) => (
        <div key={category}>
          <h3 style={{ fontSize: 14, margin: '8px 0 4px' }}>{category}</h3>
          <ul style={listStyle}>
            {items.map((item) => (
              <li key={item.path} data-testid={`example-item-${item.path}`} style={rowStyle}>
                <span style={{ flex: 1, minWidth: 0 }}>
                  <strong>{item.name}</strong>{' '}
                  <span style={mutedStyle}>
                    {item.node_count} nodes · {item.edge_count} edges
                    {item.source !== 'builtin' ? ` · ${item.source}` : ''}
                  </span>
                  {item.description && <div style={mutedStyle}>{item.description}</div>}
                </span>
                <button data-testid={`example-load-${item.path}`} onClick={() => void open(item)}>
                  Open
                </button>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </ViewFrame>
  );
}
