// The one component every node type renders with: ports and title come from its definition.
import { Handle, Position, useUpdateNodeInternals, type NodeProps } from '@xyflow/react';
import { memo, useEffect, useRef } from 'react';
import type { PortDefinition } from '../../api/types';
import { resolveDefinition } from '../../defs/definitions';
import { definitionsStore } from '../../defs/definitionsStore';
import { portColour, TRIGGER } from '../../graph/compat';
import { TRIGGER_TARGET, type FlowNode } from '../../graph/flow';
import { nodePorts } from '../../graph/ports';
import { runController } from '../../app/services';
import type { NodeRun } from '../../run/runState';
import { useStore } from '../../store/store';
import { useDynamicOutputs } from '../dynamicPorts';
import { validationStore } from '../validationStore';
import { useNodeEnvironment } from './context';
import { RunDetails } from './NodeBody';

const NO_HANDLES = { inputs: [] as string[], outputs: [] as string[] };

function PortRow({ port, side }: { port: PortDefinition; side: 'in' | 'out' }) {
  const colour = portColour(port.data_type);
  const title = `${port.name}: ${port.data_type}${port.optional ? ' (optional)' : ''}${port.description ? `\n${port.description}` : ''}`;
  return (
    <div className={`nl-port nl-port-${side}`} title={title}>
      <Handle
        id={port.name}
        type={side === 'in' ? 'target' : 'source'}
        position={side === 'in' ? Position.Left : Position.Right}
        className={port.data_type === TRIGGER ? 'nl-handle nl-handle-trigger' : 'nl-handle'}
        style={{ background: colour, borderColor: colour }}
        data-port-type={port.data_type}
      />
      <span className={port.optional ? 'nl-port-name nl-optional' : 'nl-port-name'}>{port.name}</span>
      <span className="nl-port-type" style={{ color: colour }}>
        {port.data_type}
      </span>
    </div>
  );
}

function statusOf(run: NodeRun | undefined): string {
  return run?.status ?? 'idle';
}

function GenericNodeView({ id, data, selected }: NodeProps<FlowNode>) {
  const env = useNodeEnvironment();
  const def = useStore(definitionsStore, (d) => resolveDefinition(d, data.nodeType, env.embeddedPresets));
  const defsLoaded = useStore(definitionsStore, (d) => d.loaded);
  const run = useStore(runController.run, (s) => (s.tabId === env.tabId ? s.nodes[id] : undefined));
  const recorded = useStore(runController.run, (s) => s.tabId === env.tabId && s.recordOutputs && !!s.runId);
  const issues = useStore(validationStore, (s) => (s.tabId === env.tabId ? s.byNode[id] : undefined));
  const dynamicOutputs = useDynamicOutputs(def, data.params);
  const ports = nodePorts({ id, data } as FlowNode, def, dynamicOutputs, env.edgeHandles.get(id) ?? NO_HANDLES);

  // Handles that appear later (dynamic outputs, a registry reload) must be measured again. Not on
  // mount: React Flow measures new nodes itself, and one update per node makes big imports quadratic.
  const updateInternals = useUpdateNodeInternals();
  const handleSignature = `${ports.triggerInput}|${ports.inputs.map((p) => p.name).join(',')}|${ports.outputs.map((p) => p.name).join(',')}`;
  const measuredSignature = useRef(handleSignature);
  useEffect(() => {
    if (measuredSignature.current === handleSignature) return;
    measuredSignature.current = handleSignature;
    updateInternals(id);
  }, [handleSignature, id, updateInternals]);

  const status = statusOf(run);
  const errors = [
    ...(run?.status === 'error' && run.error ? [run.error] : []),
    ...(issues ?? []).filter((i) => i.severity === 'error').map((i) => i.message),
  ];
  const warnings = (issues ?? []).filter((i) => i.severity === 'warning').map((i) => i.message);
  const unknown = defsLoaded && !def;
  const title = def?.node_name ?? data.nodeType;
  const canInspect = selected && recorded && (status === 'completed' || status === 'cached');

  return (
    <div
      className={`nl-node nl-status-${status}${selected ? ' nl-selected' : ''}${unknown ? ' nl-unknown' : ''}`}
      data-testid={`node-${id}`}
      data-status={status}
      data-type={data.nodeType}
    >
      {ports.triggerInput && (
        <Handle
          id={TRIGGER_TARGET}
          type="target"
          position={Position.Top}
          className="nl-handle nl-handle-trigger nl-trigger-in"
          style={{ background: portColour(TRIGGER), borderColor: portColour(TRIGGER) }}
          title="Trigger input: connect a Start trigger to run from this node"
        />
      )}
      <div className="nl-node-header" title={def?.description || data.nodeType}>
        <span className="nl-node-title">{title.startsWith('preset:') ? title.slice(7) : title}</span>
        {title.startsWith('preset:') && <span className="nl-badge">preset</span>}
        <span className="nl-node-id">{id}</span>
        {run?.elapsedMs !== undefined && <span className="nl-node-time">{run.elapsedMs} ms</span>}
        {status !== 'idle' && <span className={`nl-status-dot nl-dot-${status}`} title={status} />}
      </div>
      {unknown && <div className="nl-node-warning">Unknown node type</div>}
      {def && !def.available && <div className="nl-node-warning">{def.unavailable_reason ?? 'Unavailable'}</div>}
      <div className="nl-node-ports">
        <div className="nl-ports-in">
          {ports.inputs.map((p) => (
            <PortRow key={p.name} port={p} side="in" />
          ))}
        </div>
        <div className="nl-ports-out">
          {ports.outputs.map((p) => (
            <PortRow key={p.name} port={p} side="out" />
          ))}
        </div>
      </div>
      {run && <RunDetails run={run} />}
      {errors.length > 0 && (
        <div className="nl-node-error nowheel" data-testid={`node-error-${id}`}>
          {errors.join('\n')}
        </div>
      )}
      {errors.length === 0 && warnings.length > 0 && (
        <div className="nl-node-warning" title={warnings.join('\n')}>
          {warnings.length === 1 ? warnings[0] : `${warnings.length} warnings`}
        </div>
      )}
      {canInspect && (
        <button type="button" className="nl-inspect-button nodrag" data-testid="inspector-open" onClick={() => env.openInspector(id)}>
          Inspect outputs
        </button>
      )}
    </div>
  );
}

export const GenericNode = memo(GenericNodeView);
