// Which handles a node shows and which connections between them are allowed.
import type { Connection } from '@xyflow/react';
import type { NodeDefinition, PortDefinition } from '../api/types';
import { canConnect, TRIGGER } from './compat';
import { NOTE_TYPE, START_TYPE, TRIGGER_TARGET, type FlowDoc, type FlowNode } from './flow';

export interface NodePorts {
  inputs: PortDefinition[];
  outputs: PortDefinition[];
  /** Whether the node has the trigger input (every runnable node but Start, engine.md §1.4). */
  triggerInput: boolean;
}

function missingPort(name: string): PortDefinition {
  return { name, data_type: 'ANY', description: 'Not declared by the node type', optional: true };
}

/**
 * Ports from the definition (and dynamic outputs when known), plus any port an edge names that the
 * definition lacks, so edges of unknown or changed node types still render instead of vanishing.
 */
export function nodePorts(
  node: FlowNode,
  def: NodeDefinition | undefined,
  dynamicOutputs: PortDefinition[] | undefined,
  edgeHandles: { inputs: readonly string[]; outputs: readonly string[] },
): NodePorts {
  const inputs = [...(def?.inputs ?? [])];
  const outputs = [...(dynamicOutputs ?? def?.outputs ?? [])];
  for (const name of edgeHandles.inputs) {
    if (name !== TRIGGER_TARGET && !inputs.some((p) => p.name === name)) inputs.push(missingPort(name));
  }
  for (const name of edgeHandles.outputs) if (!outputs.some((p) => p.name === name)) outputs.push(missingPort(name));
  const nodeType = node.data.nodeType;
  const triggerInput = nodeType !== NOTE_TYPE && nodeType !== START_TYPE && !(def && def.inputs.length === 0 && def.outputs.every((p) => p.data_type === TRIGGER));
  return { inputs, outputs, triggerInput };
}

export type PortLookup = (node: FlowNode) => NodePorts;

export function connectionKind(
  connection: Connection,
  doc: Pick<FlowDoc, 'nodes'>,
  ports: PortLookup,
): 'data' | 'trigger' | null {
  if (!connection.source || !connection.target || connection.source === connection.target) return null;
  const source = doc.nodes.find((n) => n.id === connection.source);
  const target = doc.nodes.find((n) => n.id === connection.target);
  if (!source || !target) return null;
  const out = ports(source).outputs.find((p) => p.name === connection.sourceHandle);
  if (!out) return null;
  if (connection.targetHandle === TRIGGER_TARGET) {
    return out.data_type === TRIGGER && ports(target).triggerInput ? 'trigger' : null;
  }
  const input = ports(target).inputs.find((p) => p.name === connection.targetHandle);
  if (!input) return null;
  return canConnect(out.data_type, input.data_type) ? 'data' : null;
}
