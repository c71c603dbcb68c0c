import { useState } from 'react';
import { apiSend } from '../api/http';
import { useEditorBridge } from '../editor/bridge';
import { ErrorMessage } from './common/ErrorMessage';
import { downloadText } from './common/download';
import { ViewFrame, mutedStyle } from './common/layout';

type Mode = 'auto' | 'standalone' | 'runner';

interface ExportReply {
  script: string;
  mode: 'standalone' | 'runner';
  filename: string;
  seed: number;
  omitted_nodes: Array<{ node_id: string; type: string }>;
  unsupported_nodes: Array<{ node_id: string; type: string; reason: string }>;
}

/** Export notes worth a user's attention: what was left out and why a runner script was chosen. */
export function exportWarnings(reply: ExportReply): string[] {
  const notes = reply.omitted_nodes.map((n) => `Display-only node ${n.node_id} (${n.type}) is not in the script`);
  for (const n of reply.unsupported_nodes) notes.push(`Node ${n.node_id} (${n.type}) needs the runner: ${n.reason}`);
  return notes;
}

export function ExportView() {
  const bridge = useEditorBridge();
  const [mode, setMode] = useState<Mode>('auto');
  const [seed, setSeed] = useState('0');
  const [reply, setReply] = useState<ExportReply | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function generate() {
    setError(null);
    const seedValue = Number(seed);
    if (!Number.isSafeInteger(seedValue) || seedValue < 0) {
      setError(new Error('Seed must be a non-negative integer'));
      return;
    }
    setBusy(true);
    try {
      const graph = bridge.currentGraph();
      const name = bridge.currentName() ?? graph.name;
      setReply(await apiSend<ExportReply>('POST', '/api/graph/export', { ...graph, ...(name ? { name } : {}), mode, seed: seedValue }));
    } catch (e) {
      setReply(null);
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  const warnings = reply ? exportWarnings(reply) : [];
  return (
    <ViewFrame id="export" title="Export to Python">
      <div style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
        <label>
          Mode{' '}
          <select value={mode} onChange={(e) => setMode(e.target.value as Mode)}>
            <option value="auto">auto (standalone when possible)</option>
            <option value="standalone">standalone</option>
            <option value="runner">runner</option>
          </select>
        </label>
        <label>
          Seed <input type="number" min={0} step={1} value={seed} onChange={(e) => setSeed(e.target.value)} style={{ width: 90 }} />
        </label>
        <button data-testid="export-python-button" disabled={busy} onClick={() => void generate()}>
          {busy ? 'Exporting…' : 'Export current graph'}
        </button>
        {reply && (
          <button data-testid="export-python-download" onClick={() => downloadText(reply.filename, reply.script, 'text/x-python')}>
            Download {reply.filename}
          </button>
        )}
      </div>
      <ErrorMessage error={error} testId="export-error" />
      {reply && (
        <>
          <p style={mutedStyle} data-testid="export-python-mode">
            {reply.mode === 'standalone' ? 'Standalone PyTorch script' : 'Runner script (needs nodeloom installed)'} · default seed {reply.seed}
          </p>
          {warnings.length > 0 && (
            <ul data-testid="export-python-warnings" style={{ color: 'var(--warn, #e6b450)', margin: 0, paddingLeft: 18, fontSize: 13 }}>
              {warnings.map((w, i) => (
                <li key={i}>{w}</li>
              ))}
            </ul>
          )}
          <pre data-testid="export-python-code" style={codeStyle}>
            {reply.script}
          </pre>
        </>
      )}
    </ViewFrame>
  );
}

const codeStyle = {
  background: 'rgba(128,128,128,0.12)',
  padding: 10,
  overflow: 'auto',
  maxHeight: '60vh',
  fontSize: 12,
  margin: 0,
};
