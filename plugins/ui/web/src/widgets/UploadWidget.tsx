import { useState, type ChangeEvent } from 'react';
import { uploadChunked } from '../upload/chunked';
import { clientSessionId } from '../upload/session';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { ProgressBar } from './ProgressBar';

interface Props {
  value: string;
  onChange(v: string): void;
  nodeId: string;
  nodeName: string;
  accept?: string;
}

function baseName(path: string): string {
  return path.split('/').pop() ?? path;
}

export function UploadWidget({ value, onChange, nodeId, nodeName, accept }: Props) {
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [error, setError] = useState<unknown>(null);

  async function onFile(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setError(null);
    setProgress({ done: 0, total: file.size });
    try {
      const result = await uploadChunked(file, {
        sessionId: clientSessionId(),
        nodeId,
        nodeName,
        onProgress: (done, total) => setProgress({ done, total }),
      });
      onChange(result.filePath);
    } catch (e) {
      setError(e);
    } finally {
      setProgress(null);
    }
  }

  return (
    <span className="nl-upload-widget" style={{ display: 'inline-flex', flexDirection: 'column', gap: 4 }}>
      <input type="file" accept={accept} disabled={progress !== null} onChange={(e) => void onFile(e)} aria-label="upload file" />
      {progress && <ProgressBar done={progress.done} total={progress.total} label="upload" />}
      {value && (
        <span style={{ fontSize: 12 }} title={value}>
          <a href={value} target="_blank" rel="noreferrer">
            {baseName(value)}
          </a>{' '}
          <button type="button" onClick={() => onChange('')} title="Clear">
            ×
          </button>
        </span>
      )}
      <ErrorMessage error={error} />
    </span>
  );
}
