// The right-hand panel: the selected node's params, the Inspector for its recorded outputs, or
// the graph's own details and last validation report.
import { memo, Suspense } from 'react';
import type { PresetDefinition } from '../api/types';
import { runController } from '../app/services';
import { findPreset, resolveDefinition } from '../defs/definitions';
import { definitionsStore } from '../defs/definitionsStore';
import type { FlowNode } from '../graph/flow';
import { Inspector } from '../integration/optional';
import { useStore } from '../store/store';
import { editActive } from './actions';
import { setGraphMeta, setInternalParam, setParam } from './docOps';
import { ParamsPanel } from './params/ParamsPanel';
import { validationStore } from './validationStore';
import { workspaceStore } from './workspaceStore';

interface Props {
  tabId: string;
  inspectorNodeId: string | null;
  onCloseInspector(): void;
}

function presetsOf(meta: Record<string, unknown>): PresetDefinition[] | undefined {
  return Array.isArray(meta.presets) ? (meta.presets as PresetDefinition[]) : undefined;
}

function GraphDetails({ tabId }: { tabId: string }) {
  const description = useStore(workspaceStore, (ws) => ws.tabs.find((t) => t.id === tabId)?.history.present.meta.description);
  const selectedCount = useStore(workspaceStore, (ws) => ws.tabs.find((t) => t.id === tabId)?.history.present.nodes.filter((n) => n.selected).length ?? 0);
  const validation = useStore(validationStore, (s) => (s.tabId === tabId ? s : null));
  return (
    <div className="nl-graph-details">
      <div className="nl-muted">{selectedCount > 1 ? `${selectedCount} nodes selected` : 'Select a node to edit its parameters.'}</div>
      <label className="nl-param-label" htmlFor="graph-description">
        Graph description
      </label>
      <textarea
        id="graph-description"
        key={`${tabId}-${String(description ?? '')}`}
        defaultValue={typeof description === 'string' ? description : ''}
        rows={3}
        onBlur={(e) => {
          if (e.target.value !== (description ?? '')) editActive((d) => setGraphMeta(d, { description: e.target.value }));
        }}
      />
      {validation?.error && <div className="nl-error-text">Validation failed: {validation.error}</div>}
      {validation?.report && (
        <div className="nl-validation" data-testid="validation-report" data-valid={String(validation.report.valid)}>
          <div className={validation.report.valid ? 'nl-ok-text' : 'nl-error-text'}>
            {validation.report.valid ? 'Valid graph' : `${validation.report.errors.length} error(s)`}
          </div>
          <ul>
            {validation.report.issues.map((issue, i) => (
              <li key={i} className={issue.severity === 'error' ? 'nl-error-text' : 'nl-warning-text'}>
                {issue.message}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

function RightPanelView({ tabId, inspectorNodeId, onCloseInspector }: Props) {
  const selected = useStore(workspaceStore, (ws) => {
    const nodes = ws.tabs.find((t) => t.id === tabId)?.history.present.nodes ?? [];
    let found: FlowNode | null = null;
    for (const n of nodes) {
      if (!n.selected) continue;
      if (found) return null;
      found = n;
    }
    return found;
  });
  const meta = useStore(workspaceStore, (ws) => ws.tabs.find((t) => t.id === tabId)?.history.present.meta);
  const defs = useStore(definitionsStore, (d) => d);
  const runId = useStore(runController.run, (s) => (s.tabId === tabId ? s.runId : null));

  if (inspectorNodeId) {
    const inspected = workspaceStore.get().tabs.find((t) => t.id === tabId)?.history.present.nodes.find((n) => n.id === inspectorNodeId);
    const definition = inspected ? resolveDefinition(defs, inspected.data.nodeType, presetsOf(meta ?? {})) : undefined;
    return (
      <aside className="nl-right">
        <header className="nl-panel-header">
          <span>Outputs of {inspectorNodeId}</span>
          <button type="button" className="nl-small-button" onClick={onCloseInspector} data-testid="inspector-close">
            Back
          </button>
        </header>
        {Inspector ? (
          <Suspense fallback={<div className="nl-muted">Loading the inspector…</div>}>
            <Inspector runId={runId} nodeId={inspectorNodeId} definition={definition} />
          </Suspense>
        ) : (
          <div className="nl-muted">The inspector is not part of this build.</div>
        )}
      </aside>
    );
  }

  if (!selected || selected.type === 'note') {
    return (
      <aside className="nl-right">
        <GraphDetails tabId={tabId} />
      </aside>
    );
  }

  const embedded = presetsOf(meta ?? {});
  const definition = resolveDefinition(defs, selected.data.nodeType, embedded);
  const preset = findPreset(defs, selected.data.nodeType, embedded);
  return (
    <aside className="nl-right">
      <ParamsPanel
        node={selected}
        definition={definition}
        preset={preset}
        onSetParam={(name, value) => editActive((d) => setParam(d, selected.id, name, value))}
        onSetInternalParam={(internal, name, value) => editActive((d) => setInternalParam(d, selected.id, internal, name, value))}
      />
    </aside>
  );
}

export const RightPanel = memo(RightPanelView);
