import { useState, type ChangeEvent } from 'react';
import { ApiError, apiGet, apiSend } from '../api/http';
import { ErrorMessage } from './common/ErrorMessage';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from './common/layout';
import { useResource } from './common/useResource';

interface CustomNodeFile {
  filename: string;
  enabled: boolean;
  nodes: string[];
  error: string | null;
}

interface UploadReply {
  filename: string;
  nodes: string[];
  error: string | null;
}

const loadFiles = () => apiGet<CustomNodeFile[]>('/api/custom-nodes');

/** The line number inside a load error such as `NameError: … (broken.py, line 7)`. */
export function errorLine(message: string): number | null {
  const match = /line (\d+)\)?\s*$/.exec(message) ?? /\bline (\d+)\b/.exec(message);
  return match ? Number(match[1]) : null;
}

function uploadErrorText(error: unknown): string | null {
  if (!(error instanceof ApiError) || error.code !== 'syntax_error') return null;
  const line = (error.body as { line?: unknown } | null)?.line;
  return typeof line === 'number' ? `Line ${line}` : null;
}

export function CustomNodesView() {
  const { data, error, reload } = useResource(loadFiles);
  const [actionError, setActionError] = useState<unknown>(null);
  const [note, setNote] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function run(action: () => Promise<void>) {
    setActionError(null);
    setNote(null);
    setBusy(true);
    try {
      await action();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
    await reload();
  }

  function onUpload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    const form = new FormData();
    form.append('file', file, file.name);
    void run(async () => {
      const reply = await apiSend<UploadReply>('POST', '/api/custom-nodes/upload', form);
      setNote(
        reply.error
          ? `Uploaded ${reply.filename}, but it failed to load (see below)`
          : `Uploaded ${reply.filename}: ${reply.nodes.length ? reply.nodes.join(', ') : 'no nodes found'}`,
      );
    });
  }

  const toggle = (file: CustomNodeFile) =>
    run(async () => {
      await apiSend('POST', '/api/custom-nodes/toggle', { filename: file.filename, enabled: !file.enabled });
    });

  const remove = (file: CustomNodeFile) =>
    run(async () => {
      await apiSend('DELETE', `/api/custom-nodes/${encodeURIComponent(file.filename)}`);
    });

  const syntaxLine = uploadErrorText(actionError);
  return (
    <ViewFrame id="custom-nodes" title="Custom nodes" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <label style={{ display: 'flex', gap: 8, alignItems: 'center' }}>
        Upload a node file (.py)
        <input data-testid="custom-upload-input" type="file" accept=".py" disabled={busy} onChange={onUpload} />
      </label>
      {note && <p style={mutedStyle}>{note}</p>}
      <ErrorMessage error={actionError} testId="custom-action-error" />
      {syntaxLine && (
        <div data-testid="custom-syntax-line" style={{ color: 'var(--error, #f06a6a)', fontSize: 13 }}>
          {syntaxLine}
        </div>
      )}
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No custom node files yet.</p>}
      <ul style={listStyle}>
        {(data ?? []).map((file) => {
          const line = file.error ? errorLine(file.error) : null;
          return (
            <li key={file.filename} data-testid={`custom-item-${file.filename}`} style={{ ...rowStyle, flexWrap: 'wrap' }}>
              <span style={{ flex: 1, minWidth: 0 }}>
                <code>{file.filename}</code> <span style={mutedStyle}>{file.enabled ? 'enabled' : 'disabled'}</span>
                <div style={mutedStyle}>{file.nodes.length ? `Nodes: ${file.nodes.join(', ')}` : 'No nodes loaded'}</div>
                {file.error && (
                  <div data-testid={`custom-error-${file.filename}`} style={{ color: 'var(--error, #f06a6a)', fontSize: 12, whiteSpace: 'pre-wrap' }}>
                    {line !== null && <strong>Line {line}: </strong>}
                    {file.error}
                  </div>
                )}
              </span>
              <button data-testid={`custom-toggle-${file.filename}`} disabled={busy} onClick={() => void toggle(file)}>
                {file.enabled ? 'Disable' : 'Enable'}
              </button>
              <button data-testid={`custom-delete-${file.filename}`} disabled={busy} onClick={() => void remove(file)}>
                Delete
              </button>
            </li>
          );
        })}
      </ul>
    </ViewFrame>
  );
}
