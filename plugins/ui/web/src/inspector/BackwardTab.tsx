import { useCallback, useState } from 'react';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { useResource } from '../views/common/useResource';
import { fetchGrads, gradPort } from './api';
import { formatNumber } from './format';
import type { GradEntry, HealthStatus, OutputEntry } from './types';
import { ListedValuePanel } from './ValuePanel';

interface Props {
  runId: string;
  nodeId: string;
  listing: OutputEntry[];
}

export const HEALTH_COLORS: Record<HealthStatus, string> = {
  healthy: '#2e9e5b',
  vanishing: '#d08a00',
  exploding: '#d64545',
  unknown: '#808080',
};

function HealthBadge({ entry }: { entry: GradEntry }) {
  const status: HealthStatus = entry.health?.status ?? 'unknown';
  return (
    <span
      data-testid={`grad-health-${entry.port}`}
      data-status={status}
      style={{ background: HEALTH_COLORS[status] ?? HEALTH_COLORS.unknown, color: '#fff', borderRadius: 8, padding: '0 7px', fontSize: 11 }}
    >
      {status}
    </span>
  );
}

/** Gradients captured in backward mode (§2.10.5) with their health labels (engine.md §4.15). */
export function BackwardTab({ runId, nodeId, listing }: Props) {
  const load = useCallback(() => fetchGrads(runId, nodeId), [runId, nodeId]);
  const { data, error } = useResource(load, `${runId}\u0000${nodeId}`);
  const [open, setOpen] = useState<GradEntry | null>(null);

  if (error) return <ErrorMessage error={error} />;
  if (!data) return <p style={{ fontSize: 12 }}>Loading gradients…</p>;
  if (data.length === 0) {
    return (
      <p data-testid="inspector-grads-empty" style={{ fontSize: 12, opacity: 0.8 }}>
        No gradients for this node. Run with “Backward mode” on (gradients are recorded even without “Record outputs”).
      </p>
    );
  }
  const port = open ? gradPort(open) : null;
  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: 6 }}>
      <table style={{ fontSize: 12, borderCollapse: 'collapse' }}>
        <thead>
          <tr style={{ textAlign: 'left', opacity: 0.7 }}>
            <th>gradient of</th>
            <th>kind</th>
            <th>health</th>
            <th>norm</th>
            <th>mean</th>
            <th>max</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {data.map((entry) => (
            <tr key={`${entry.kind}:${entry.port}`}>
              <td style={{ fontFamily: 'monospace' }}>{entry.port}</td>
              <td>{entry.kind === 'weight' ? 'parameter' : 'output'}</td>
              <td>
                <HealthBadge entry={entry} />
              </td>
              <td>{entry.health ? formatNumber(entry.health.norm) : '—'}</td>
              <td>{entry.health ? formatNumber(entry.health.mean) : '—'}</td>
              <td>{entry.health ? formatNumber(entry.health.max) : '—'}</td>
              <td>
                <button data-testid={`inspector-grad-${entry.port}`} onClick={() => setOpen(entry)} style={{ fontSize: 11 }}>
                  view
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {open && port && (
        <ListedValuePanel runId={runId} nodeId={nodeId} port={port} listing={listing} title={`∂loss/∂${open.port}`} />
      )}
    </div>
  );
}
