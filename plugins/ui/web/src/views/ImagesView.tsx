import { useState, type ChangeEvent } from 'react';
import { apiGet, apiSend, apiUpload } from '../api/http';
import { imageUrl } from '../widgets/ImageFileSelect';
import { ProgressBar } from '../widgets/ProgressBar';
import { ErrorMessage } from './common/ErrorMessage';
import { ViewFrame, mutedStyle } from './common/layout';
import { encodePath, formatBytes } from './common/paths';
import { useResource } from './common/useResource';

interface ImageItem {
  filename: string;
  size: number;
}

const loadImages = () => apiGet<ImageItem[]>('/api/images');

export function ImagesView() {
  const { data, error, reload } = useResource(loadImages);
  const [actionError, setActionError] = useState<unknown>(null);
  const [overwrite, setOverwrite] = useState(false);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);

  async function onUpload(event: ChangeEvent<HTMLInputElement>) {
    const files = Array.from(event.target.files ?? []);
    event.target.value = '';
    setActionError(null);
    for (const file of files) {
      const form = new FormData();
      form.append('file', file, file.name);
      if (overwrite) form.append('overwrite', 'true');
      setProgress({ done: 0, total: file.size });
      try {
        await apiUpload('/api/images/upload', form, (done, total) => setProgress({ done, total }));
      } catch (e) {
        setActionError(e);
        break;
      } finally {
        setProgress(null);
      }
    }
    await reload();
  }

  async function remove(filename: string) {
    setActionError(null);
    try {
      await apiSend('DELETE', `/api/images/${encodePath(filename)}`);
    } catch (e) {
      setActionError(e);
    }
    await reload();
  }

  return (
    <ViewFrame id="images" title="Images" actions={<button onClick={() => void reload()}>Refresh</button>}>
      <div style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
        <input data-testid="image-upload-input" type="file" accept="image/*,.tif,.tiff" multiple disabled={progress !== null} onChange={(e) => void onUpload(e)} />
        <label>
          <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} /> overwrite
        </label>
        {progress && <ProgressBar testId="image-upload-progress" done={progress.done} total={progress.total} label="image upload" />}
      </div>
      <ErrorMessage error={actionError} testId="image-error" />
      <ErrorMessage error={error} />
      {data && data.length === 0 && <p style={mutedStyle}>No images yet.</p>}
      <ul style={gridStyle}>
        {(data ?? []).map((img) => (
          <li key={img.filename} data-testid={`image-item-${img.filename}`} style={cardStyle}>
            <a href={imageUrl(img.filename)} target="_blank" rel="noreferrer">
              <img src={imageUrl(img.filename)} alt={img.filename} loading="lazy" style={thumbStyle} />
            </a>
            <span style={{ fontSize: 12, wordBreak: 'break-all' }}>{img.filename}</span>
            <span style={mutedStyle}>{formatBytes(img.size)}</span>
            <button data-testid={`image-delete-${img.filename}`} onClick={() => void remove(img.filename)}>
              Delete
            </button>
          </li>
        ))}
      </ul>
    </ViewFrame>
  );
}

const gridStyle = { listStyle: 'none', margin: 0, padding: 0, display: 'flex', flexWrap: 'wrap' as const, gap: 10 };
const cardStyle = { display: 'flex', flexDirection: 'column' as const, gap: 4, width: 140, alignItems: 'flex-start' };
const thumbStyle = { width: 128, height: 128, objectFit: 'contain' as const, background: 'rgba(128,128,128,0.15)' };
