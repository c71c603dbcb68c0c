// The parts of a node that show run results: progress, streamed text, image, output summary.
import type { OutputSummary, OutputValueSummary } from '../../api/types';
import type { NodeRun } from '../../run/runState';

function short(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (value === null || value === undefined) return '–';
  return String(value);
}

export function summaryText(summary: OutputValueSummary): string {
  const s = summary as Record<string, unknown>;
  switch (summary.type) {
    case 'tensor': {
      const shape = Array.isArray(s.shape) ? `[${(s.shape as number[]).join(', ')}]` : '';
      const stats = s.mean !== undefined ? ` μ ${short(s.mean)}` : '';
      return `${shape} ${String(s.dtype ?? '').replace(/^torch\./, '')}${stats}`;
    }
    case 'model':
      return `${String(s.class)} · ${short(s.params)} params`;
    case 'scalar':
      return s.nonfinite ? String(s.nonfinite) : short(s.value);
    case 'string':
      return JSON.stringify(String(s.value ?? '').slice(0, 60));
    case 'list':
      return `list · ${short(s.length)}`;
    default:
      return String(s.repr ?? summary.type).slice(0, 60);
  }
}

export function SummaryLines({ summary }: { summary: OutputSummary }) {
  const entries = Object.entries(summary).slice(0, 4);
  return (
    <div className="nl-node-summary">
      {entries.map(([port, value]) => (
        <div key={port} className="nl-node-summary-row" title={summaryText(value)}>
          <span className="nl-node-summary-port">{port}</span> {summaryText(value)}
        </div>
      ))}
    </div>
  );
}

export function RunDetails({ run }: { run: NodeRun }) {
  const { progress } = run;
  const fraction = progress && progress.total ? Math.min(1, progress.current / progress.total) : null;
  return (
    <>
      {progress && run.status === 'running' && (
        <div className="nl-node-progress" title={progress.label}>
          <div className="nl-node-progress-bar">
            <div
              className={fraction === null ? 'nl-node-progress-fill nl-indeterminate' : 'nl-node-progress-fill'}
              style={fraction === null ? undefined : { width: `${fraction * 100}%` }}
            />
          </div>
          <div className="nl-node-progress-label">{progress.label}</div>
        </div>
      )}
      {run.text && <div className="nl-node-text nowheel">{run.text}</div>}
      {run.image && <img className="nl-node-image" alt="node output" src={`data:image/png;base64,${run.image}`} />}
      {run.summary && <SummaryLines summary={run.summary} />}
      {run.status === 'skipped' && run.reason && <div className="nl-node-note">skipped: {run.reason}</div>}
      {run.status === 'idle' && run.reason && <div className="nl-node-note">{run.reason}</div>}
    </>
  );
}
