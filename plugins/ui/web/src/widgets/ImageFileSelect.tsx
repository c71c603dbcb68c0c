import { useRef, useState, type ChangeEvent } from 'react';
import { apiGet, apiUpload } from '../api/http';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { encodePath } from '../views/common/paths';
import { useResource } from '../views/common/useResource';
import { ProgressBar } from './ProgressBar';

interface Props {
  value: string;
  onChange(v: string): void;
  category?: string;
}

interface ImageItem {
  filename: string;
  size: number;
}

const loadImages = () => apiGet<ImageItem[]>('/api/images');

export function imageUrl(relpath: string): string {
  return `/api/images/download/${encodePath(relpath)}`;
}

/** `category` is accepted for symmetry with ModelFileSelect; images have no categories (§2.9). */
export function ImageFileSelect({ value, onChange }: Props) {
  const { data, error, reload } = useResource(loadImages);
  const [uploadError, setUploadError] = useState<unknown>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const images = data ?? [];
  const missing = value !== '' && data !== null && !images.some((i) => i.filename === value);

  async function upload(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    const form = new FormData();
    form.append('file', file, file.name);
    setUploadError(null);
    setProgress({ done: 0, total: file.size });
    try {
      const reply = await apiUpload<{ filename: string }>('/api/images/upload', form, (done, total) => setProgress({ done, total }));
      await reload();
      onChange(reply.filename);
    } catch (e) {
      setUploadError(e);
    } finally {
      setProgress(null);
    }
  }

  return (
    <span className="nl-image-select" style={{ display: 'inline-flex', flexDirection: 'column', gap: 4 }}>
      <span style={{ display: 'inline-flex', gap: 4, alignItems: 'center' }}>
        <select value={value} onChange={(e) => onChange(e.target.value)} aria-label="image file">
          <option value="">(none)</option>
          {missing && <option value={value}>{value} (missing)</option>}
          {images.map((img) => (
            <option key={img.filename} value={img.filename}>
              {img.filename}
            </option>
          ))}
        </select>
        <button type="button" onClick={() => input.current?.click()} title="Upload an image">
          Upload…
        </button>
        <input ref={input} type="file" accept="image/*" hidden onChange={(e) => void upload(e)} />
      </span>
      {progress && <ProgressBar done={progress.done} total={progress.total} label="image upload" />}
      {value && !missing && (
        <img src={imageUrl(value)} alt={value} style={{ maxWidth: 96, maxHeight: 96, objectFit: 'contain' }} />
      )}
      <ErrorMessage error={error ?? uploadError} />
    </span>
  );
}
