import { useCallback, useContext, useMemo, useState, type CSSProperties } from 'react';
import { ApiError, apiGet } from '../api/http';
import type { NodeDefinition, PresetDefinition } from '../api/types';
import { EditorBridgeContext } from '../editor/bridge';
import { ErrorMessage } from '../views/common/ErrorMessage';
import { useResource } from '../views/common/useResource';
import { listOutputs } from './api';
import { BackwardTab } from './BackwardTab';
import { inputRefs, outputRefs } from './ports';
import { StepsTab } from './StepsTab';
import type { OutputEntry } from './types';
import { ValuesTab } from './ValuesTab';

interface Props {
  runId: string | null;
  nodeId: string;
  definition?: NodeDefinition;
}

type Tab = 'values' | 'steps' | 'backward';

const TABS: Array<[Tab, string]> = [
  ['values', 'Values'],
  ['steps', 'Steps'],
  ['backward', 'Backward'],
];

const RECORD_HINT = 'Turn on “Record outputs” in the run options and run the graph again to inspect values here.';

function Hint({ children }: { children: string }) {
  return (
    <p data-testid="inspector-hint" style={{ fontSize: 12, opacity: 0.85, margin: '6px 0' }}>
      {children}
    </p>
  );
}

const emptyListing: OutputEntry[] = [];

export function Inspector({ runId, nodeId, definition }: Props) {
  // Optional: the inspector also works outside the editor, just without input wiring.
  const bridge = useContext(EditorBridgeContext);
  const [tab, setTab] = useState<Tab>('values');
  const load = useCallback(() => (runId ? listOutputs(runId) : Promise.resolve(emptyListing)), [runId]);
  const { data, error, loading, reload } = useResource(load, runId ?? '');

  const graph = bridge ? bridge.currentGraph() : null;
  const needsPresets = useMemo(
    () => (graph?.edges ?? []).some((e) => e.target === nodeId && graph?.nodes.find((n) => n.id === e.source)?.type.startsWith('preset:')),
    [graph, nodeId],
  );
  const loadPresets = useCallback(() => (needsPresets ? apiGet<PresetDefinition[]>('/api/presets') : Promise.resolve([])), [needsPresets]);
  const presets = useResource(loadPresets, String(needsPresets)).data ?? [];

  const listing = data ?? emptyListing;
  const outputs = useMemo(() => outputRefs(listing, nodeId, definition), [listing, nodeId, definition]);
  const inputs = useMemo(() => inputRefs(listing, nodeId, graph, definition, presets), [listing, nodeId, graph, definition, presets]);
  const recordedHere = outputs.some((r) => r.entry) || inputs.some((r) => r.entry);
  const runGone = error instanceof ApiError && error.code === 'run_not_found';

  let body;
  if (!runId) {
    body = <Hint>{`No run yet. ${RECORD_HINT}`}</Hint>;
  } else if (runGone) {
    body = <Hint>{`The outputs of run ${runId} are gone: the server keeps only the most recent runs, and none survive a restart. ${RECORD_HINT}`}</Hint>;
  } else if (error) {
    body = <ErrorMessage error={error} />;
  } else if (!data) {
    body = <p style={{ fontSize: 12 }}>Loading…</p>;
  } else if (tab === 'values') {
    body = (
      <>
        {!recordedHere && <Hint>{`Nothing was recorded for this node in run ${runId}. ${RECORD_HINT}`}</Hint>}
        <ValuesTab key={`${runId}\u0000${nodeId}`} runId={runId} inputs={inputs} outputs={outputs} />
      </>
    );
  } else if (tab === 'steps') {
    body = <StepsTab runId={runId} nodeId={nodeId} listing={listing} />;
  } else {
    body = <BackwardTab runId={runId} nodeId={nodeId} listing={listing} />;
  }

  return (
    <div data-testid="inspector" className="nl-inspector" style={{ display: 'flex', flexDirection: 'column', gap: 6, minWidth: 0 }}>
      <div role="tablist" style={{ display: 'flex', gap: 2, alignItems: 'center' }}>
        {TABS.map(([id, label]) => (
          <button key={id} role="tab" data-testid={`inspector-tab-${id}`} aria-selected={tab === id} onClick={() => setTab(id)} style={tabStyle(tab === id)}>
            {label}
          </button>
        ))}
        <span style={{ flex: 1 }} />
        {runId && (
          <button onClick={() => void reload()} disabled={loading} title="Fetch what the run has recorded so far" style={{ fontSize: 11 }}>
            ↻
          </button>
        )}
      </div>
      {body}
    </div>
  );
}

function tabStyle(active: boolean): CSSProperties {
  return {
    fontSize: 12,
    padding: '3px 10px',
    border: 'none',
    borderBottom: active ? '2px solid var(--accent, #4f9cf7)' : '2px solid transparent',
    background: 'transparent',
    color: 'inherit',
    cursor: 'pointer',
  };
}
