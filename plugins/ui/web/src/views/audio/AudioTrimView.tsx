import { useEffect, useRef, useState, type ChangeEvent } from 'react';
import { apiSend } from '../../api/http';
import { uploadChunked } from '../../upload/chunked';
import { clientSessionId } from '../../upload/session';
import { ProgressBar } from '../../widgets/ProgressBar';
import { ErrorMessage } from '../common/ErrorMessage';
import { ViewFrame, mutedStyle } from '../common/layout';
import { decodeForWaveform } from './decode';
import { parseSeconds, secondsText, validateRange } from './range';
import { Waveform } from './Waveform';

interface TrimReply {
  success: boolean;
  filePath: string;
  duration: number;
}

interface Source {
  filePath: string;
  name: string;
}

// The dialog is not a canvas node, so its uploads get a fixed node identity of their own.
const DIALOG_NODE_ID = 'dialog';
const DIALOG_NODE_NAME = 'AudioTrim';

export function AudioTrimView() {
  const [source, setSource] = useState<Source | null>(null);
  const [upload, setUpload] = useState<{ done: number; total: number } | null>(null);
  const [peaks, setPeaks] = useState<Array<[number, number]> | null>(null);
  const [duration, setDuration] = useState<number | null>(null);
  const [startText, setStartText] = useState('0');
  const [endText, setEndText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<TrimReply | null>(null);
  const [busy, setBusy] = useState(false);
  const player = useRef<HTMLAudioElement>(null);
  const stopAt = useRef<number | null>(null);

  useEffect(() => {
    if (!source) return;
    let cancelled = false;
    setPeaks(null);
    setDuration(null);
    decodeForWaveform(source.filePath)
      .then((decoded) => {
        if (cancelled) return;
        setPeaks(decoded.peaks);
        setDuration(decoded.duration);
        setEndText(secondsText(decoded.duration));
      })
      .catch(() => {
        // Not decodable here (codec, old browser): the <audio> metadata still gives the duration.
      });
    return () => {
      cancelled = true;
    };
  }, [source]);

  async function onFile(event: ChangeEvent<HTMLInputElement>) {
    const file = event.target.files?.[0];
    event.target.value = '';
    if (!file) return;
    setError(null);
    setResult(null);
    setUpload({ done: 0, total: file.size });
    try {
      const uploaded = await uploadChunked(file, {
        sessionId: clientSessionId(),
        nodeId: DIALOG_NODE_ID,
        nodeName: DIALOG_NODE_NAME,
        onProgress: (done, total) => setUpload({ done, total }),
      });
      setStartText('0');
      setEndText('');
      setSource({ filePath: uploaded.filePath, name: file.name });
    } catch (e) {
      setError(e);
    } finally {
      setUpload(null);
    }
  }

  function onMetadata() {
    const d = player.current?.duration;
    if (duration === null && d !== undefined && Number.isFinite(d)) {
      setDuration(d);
      if (endText === '') setEndText(secondsText(d));
    }
  }

  const start = parseSeconds(startText);
  const end = parseSeconds(endText);

  function playSelection() {
    const audio = player.current;
    const problem = validateRange(start, end, duration);
    if (!audio || problem || start === null || end === null) {
      setError(problem ? new Error(problem) : null);
      return;
    }
    stopAt.current = end;
    audio.currentTime = start;
    void audio.play().catch((e: unknown) => setError(e));
  }

  function onTimeUpdate() {
    const audio = player.current;
    if (audio && stopAt.current !== null && audio.currentTime >= stopAt.current) {
      audio.pause();
      stopAt.current = null;
    }
  }

  async function trim() {
    setResult(null);
    const problem = validateRange(start, end, duration);
    if (problem) {
      setError(new Error(problem));
      return;
    }
    if (!source) {
      setError(new Error('Upload an audio file first'));
      return;
    }
    setError(null);
    setBusy(true);
    try {
      setResult(await apiSend<TrimReply>('POST', '/api/audio/trim', { filePath: source.filePath, start, end, sessionId: clientSessionId() }));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }

  return (
    <ViewFrame id="audio" title="Audio trim">
      <div style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
        <input data-testid="audio-upload-input" type="file" accept="audio/*,video/*" disabled={upload !== null} onChange={(e) => void onFile(e)} />
        {upload && <ProgressBar testId="audio-upload-progress" done={upload.done} total={upload.total} label="audio upload" />}
        {source && (
          <span style={mutedStyle} data-testid="audio-source">
            {source.name} → {source.filePath}
          </span>
        )}
      </div>
      {source && (
        <>
          <Waveform
            peaks={peaks}
            duration={duration}
            start={start ?? 0}
            end={end ?? duration ?? 0}
            onChange={(s, e) => {
              setStartText(secondsText(s));
              setEndText(secondsText(e));
            }}
          />
          {!peaks && <span style={mutedStyle}>Waveform unavailable: this browser could not decode the file.</span>}
          <audio ref={player} src={source.filePath} preload="metadata" onLoadedMetadata={onMetadata} onTimeUpdate={onTimeUpdate} />
        </>
      )}
      <div style={{ display: 'flex', gap: 8, alignItems: 'center', flexWrap: 'wrap' }}>
        <label>
          Start (s){' '}
          <input data-testid="audio-start" type="number" min={0} step={0.01} value={startText} onChange={(e) => setStartText(e.target.value)} style={{ width: 90 }} />
        </label>
        <label>
          End (s){' '}
          <input data-testid="audio-end" type="number" min={0} step={0.01} value={endText} onChange={(e) => setEndText(e.target.value)} style={{ width: 90 }} />
        </label>
        {duration !== null && <span style={mutedStyle}>of {duration.toFixed(3)} s</span>}
        <button type="button" disabled={!source} onClick={playSelection}>
          Play selection
        </button>
        <button data-testid="audio-trim-button" type="button" disabled={busy} onClick={() => void trim()}>
          {busy ? 'Trimming…' : 'Trim'}
        </button>
      </div>
      <ErrorMessage error={error} testId="audio-error" />
      {result && (
        <div data-testid="audio-result" style={{ display: 'flex', flexDirection: 'column', gap: 4 }}>
          <span>
            Trimmed {result.duration} s → <a href={result.filePath}>{result.filePath}</a>
          </span>
          <audio controls src={result.filePath} />
          <button type="button" style={{ alignSelf: 'flex-start' }} onClick={() => {
              setStartText('0');
              setEndText('');
              setSource({ filePath: result.filePath, name: 'trimmed result' });
            }}
          >
            Trim this result further
          </button>
        </div>
      )}
    </ViewFrame>
  );
}
