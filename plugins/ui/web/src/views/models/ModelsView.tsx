import { useRef, useState, type ChangeEvent } from 'react';
import { apiGet, apiSend, apiUpload } from '../../api/http';
import { ProgressBar } from '../../widgets/ProgressBar';
import { ErrorMessage } from '../common/ErrorMessage';
import { ViewFrame, listStyle, mutedStyle, rowStyle } from '../common/layout';
import { encodePath, formatBytes } from '../common/paths';
import { useResource } from '../common/useResource';
import type { ModelItem, ModelSource } from './types';
import { useDownloads } from './useDownloads';

const loadModels = () => apiGet<ModelItem[]>('/api/models');

function describeSource(source: ModelSource): string {
  if (source.type === 'huggingface') return `Hugging Face: ${source.repo_id}/${source.filename}`;
  if (source.type === 'url') return source.url;
  return 'uploaded file';
}

function groupByCategory(items: ModelItem[]): Array<[string, ModelItem[]]> {
  const groups = new Map<string, ModelItem[]>();
  for (const item of items) {
    const list = groups.get(item.category) ?? [];
    list.push(item);
    groups.set(item.category, list);
  }
  return [...groups.entries()];
}

export function ModelsView() {
  const { data, error, reload } = useResource(loadModels);
  const { jobs, start } = useDownloads(() => void reload());
  const [actionError, setActionError] = useState<unknown>(null);
  const [category, setCategory] = useState('');
  const [overwrite, setOverwrite] = useState(false);
  const [upload, setUpload] = useState<{ name: string; done: number; total: number } | null>(null);
  const [uploadNote, setUploadNote] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  async function remove(item: ModelItem) {
    if (!item.filename) return;
    setActionError(null);
    try {
      await apiSend('DELETE', `/api/models/${encodePath(item.filename)}`);
    } catch (e) {
      setActionError(e);
    }
    await reload();
  }

  async function onUpload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    const form = new FormData();
    form.append('file', file, file.name);
    if (category.trim()) form.append('category', category.trim());
    if (overwrite) form.append('overwrite', 'true');
    setActionError(null);
    setUploadNote(null);
    setUpload({ name: file.name, done: 0, total: file.size });
    try {
      const reply = await apiUpload<{ filename: string; size: number }>('/api/models/upload', form, (done, total) =>
        setUpload({ name: file.name, done, total }),
      );
      setUploadNote(`Uploaded ${reply.filename} (${formatBytes(reply.size)})`);
    } catch (e) {
      setActionError(e);
    } finally {
      setUpload(null);
    }
    await reload();
  }

  return (
    <ViewFrame id="models" title="Models" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <fieldset style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
        <legend>Upload weights</legend>
        <label>
          Category{' '}
          <input value={category} onChange={(e) => setCategory(e.target.value)} placeholder="(top level)" size={14} />
        </label>
        <label>
          <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} /> overwrite
        </label>
        <input
          ref={fileInput}
          data-testid="model-upload-input"
          type="file"
          accept=".bin,.ckpt,.gguf,.onnx,.pt,.pth,.safetensors"
          disabled={upload !== null}
          onChange={(e) => void onUpload(e)}
        />
        {upload && (
          <span>
            {upload.name} <ProgressBar testId="model-upload-progress" done={upload.done} total={upload.total} label="model upload" />
          </span>
        )}
        {uploadNote && <span style={mutedStyle}>{uploadNote}</span>}
      </fieldset>
      <ErrorMessage error={actionError} testId="model-error" />
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No models in the registry and none on disk.</p>}
      {data &&
        groupByCategory(data).map(([group, items]) => (
          <div key={group}>
            <h3 style={{ fontSize: 14, margin: '8px 0 4px' }}>{group}</h3>
            <ul style={listStyle}>
              {items.map((item) => {
                const job = jobs[item.id];
                const busy = job && (job.status === 'starting' || job.status === 'running');
                return (
                  <li key={item.id} data-testid={`model-item-${item.id}`} style={rowStyle}>
                    <span style={{ flex: 1, minWidth: 0 }}>
                      <strong>{item.name}</strong>{' '}
                      <span style={mutedStyle}>
                        {item.installed ? `installed · ${item.filename} · ${formatBytes(item.size)}` : 'not installed'} ·{' '}
                        {describeSource(item.source)}
                      </span>
                      {job && (
                        <div>
                          <ProgressBar testId={`model-progress-${item.id}`} done={job.progress} total={100} label={`download ${item.id}`} />{' '}
                          <span style={job.status === 'error' ? { color: 'var(--error, #f06a6a)' } : mutedStyle}>{job.message}</span>
                        </div>
                      )}
                    </span>
                    {!item.installed && item.source.type !== 'upload' && (
                      <button data-testid={`model-download-${item.id}`} disabled={busy} onClick={() => void start(item.id)}>
                        {busy ? 'Downloading…' : 'Download'}
                      </button>
                    )}
                    {item.installed && item.filename && (
                      <a href={`/api/models/download/${encodePath(item.filename)}`} download>
                        Save
                      </a>
                    )}
                    {item.installed && (
                      <button data-testid={`model-delete-${item.id}`} onClick={() => void remove(item)}>
                        Delete
                      </button>
                    )}
                  </li>
                );
              })}
            </ul>
          </div>
        ))}
    </ViewFrame>
  );
}
