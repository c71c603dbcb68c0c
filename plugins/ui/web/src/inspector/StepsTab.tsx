import { useCallback, useState } from 'react';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { useResource } from '../views/common/useResource';
import { fetchSteps, stepPort } from './api';
import { formatNumber } from './format';
import type { OutputEntry } from './types';
import { ListedValuePanel } from './ValuePanel';

interface Props {
  runId: string;
  nodeId: string;
  listing: OutputEntry[];
}

/** Verbose-mode step traces (§2.10.4): each step's scalars, and its tensors fetched on demand. */
export function StepsTab({ runId, nodeId, listing }: Props) {
  const load = useCallback(() => fetchSteps(runId, nodeId), [runId, nodeId]);
  const { data, error } = useResource(load, `${runId}\u0000${nodeId}`);
  const [open, setOpen] = useState<{ index: number; key: string } | null>(null);

  if (error) return <ErrorMessage error={error} />;
  if (!data) return <p style={{ fontSize: 12 }}>Loading steps…</p>;
  if (data.length === 0) {
    return (
      <p data-testid="inspector-steps-empty" style={{ fontSize: 12, opacity: 0.8 }}>
        No step trace for this node. Run with “Verbose mode” and “Record outputs” on; only instrumented nodes record steps.
      </p>
    );
  }
  const port = open ? stepPort(open.index, open.key) : null;
  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: 6 }}>
      <ol start={0} style={{ margin: 0, paddingLeft: 22 }}>
        {data.map((step) => (
          <li key={step.index} data-testid={`inspector-step-${step.index}`} style={{ marginBottom: 6 }}>
            <strong>{step.name ?? `step ${step.index}`}</strong>
            {step.description && <span style={{ opacity: 0.75 }}> — {step.description}</span>}
            {step.scalars && Object.keys(step.scalars).length > 0 && (
              <div style={{ fontSize: 12, fontFamily: 'monospace' }}>
                {Object.entries(step.scalars).map(([k, v]) => (
                  <span key={k} style={{ marginRight: 12 }}>
                    {k} = {formatNumber(v)}
                  </span>
                ))}
              </div>
            )}
            <div style={{ display: 'flex', gap: 4, flexWrap: 'wrap' }}>
              {(step.tensor_keys ?? []).map((key) => (
                <button
                  key={key}
                  data-testid={`inspector-step-${step.index}-${key}`}
                  aria-pressed={open?.index === step.index && open.key === key}
                  onClick={() => setOpen({ index: step.index, key })}
                  style={{ fontSize: 12 }}
                >
                  {key}
                </button>
              ))}
            </div>
          </li>
        ))}
      </ol>
      {open && port && (
        <ListedValuePanel runId={runId} nodeId={nodeId} port={port} listing={listing} title={`step ${open.index}: ${open.key}`} />
      )}
    </div>
  );
}
