import { useState, type ChangeEvent } from 'react';
import { apiGet, apiSend } from '../api/http';
import type { Graph } from '../api/types';
import { useEditorBridge } from '../editor/bridge';
import { ErrorMessage } from './common/ErrorMessage';
import { downloadText, safeStem } from './common/download';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from './common/layout';
import { readFileText } from './common/readFile';
import { useResource } from './common/useResource';
import { parseGraphFile, stemOf } from './graphFile';

interface GraphListItem {
  name: string;
  file: string;
  modified: string;
  nodes: number | null;
  edges: number | null;
  error: string | null;
}

interface SaveReply {
  name: string;
  file: string;
  modified: string;
}

const loadList = () => apiGet<GraphListItem[]>('/api/graph/list');

export function GraphsView() {
  const bridge = useEditorBridge();
  const { data, error, reload } = useResource(loadList);
  const [name, setName] = useState(() => bridge.currentName() ?? bridge.currentGraph().name ?? '');
  const [actionError, setActionError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function save() {
    const trimmed = name.trim();
    setActionError(null);
    setNote(null);
    if (!trimmed) {
      setActionError(new Error('Enter a name for the graph'));
      return;
    }
    setBusy(true);
    try {
      // The name is sent as typed: the server rejects unsafe names instead of rewriting them.
      const reply = await apiSend<SaveReply>('POST', '/api/graph/save', { ...bridge.currentGraph(), name: trimmed });
      setNote(`Saved “${reply.name}”`);
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
    await reload();
  }

  async function load(item: GraphListItem) {
    setActionError(null);
    setNote(null);
    try {
      const graph = await apiGet<Graph>(`/api/graph/load/${encodeURIComponent(item.file)}`);
      bridge.openGraph(graph, item.name);
    } catch (e) {
      setActionError(e);
    }
  }

  async function importFile(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setActionError(null);
    setNote(null);
    try {
      const graph = parseGraphFile(await readFileText(file), file.name);
      const graphName = typeof graph.name === 'string' && graph.name ? graph.name : stemOf(file.name);
      bridge.openGraph(graph, graphName);
      setNote(`Imported ${file.name}`);
    } catch (e) {
      setActionError(e);
    }
  }

  function exportJson() {
    const graph = bridge.currentGraph();
    const graphName = bridge.currentName() ?? graph.name ?? 'graph';
    downloadText(`${safeStem(graphName, 'graph')}.json`, `${JSON.stringify({ ...graph, name: graphName }, null, 2)}\n`, 'application/json');
  }

  return (
    <ViewFrame id="graphs" title="Graphs" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <form
        style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <input data-testid="graph-save-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="Graph name" aria-label="graph name" />
        <button data-testid="graph-save" type="submit" disabled={busy}>
          Save current graph
        </button>
        <button data-testid="graph-export-json" type="button" onClick={exportJson}>
          Download JSON
        </button>
        <label style={{ display: 'inline-flex', gap: 4, alignItems: 'center' }}>
          Import
          <input data-testid="graph-import-input" type="file" accept=".json,application/json" onChange={(e) => void importFile(e)} />
        </label>
      </form>
      {note && <p style={mutedStyle}>{note}</p>}
      <ErrorMessage error={actionError} testId="graph-error" />
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No saved graphs yet.</p>}
      <ul style={listStyle}>
        {(data ?? []).map((item) => (
          <li key={item.file} data-testid={`graph-list-item-${item.name}`} style={rowStyle}>
            <span style={{ flex: 1, minWidth: 0 }}>
              <strong>{item.name}</strong>
              {item.file !== item.name && <span style={mutedStyle}> ({item.file}.json)</span>}
              <div style={mutedStyle}>
                {item.error ? (
                  <span style={{ color: 'var(--error, #f06a6a)' }}>{item.error}</span>
                ) : (
                  `${item.nodes ?? '?'} nodes · ${item.edges ?? '?'} edges · ${new Date(item.modified).toLocaleString()}`
                )}
              </div>
            </span>
            <button data-testid={`graph-load-${item.name}`} disabled={item.error !== null} onClick={() => void load(item)}>
              Open
            </button>
          </li>
        ))}
      </ul>
    </ViewFrame>
  );
}
