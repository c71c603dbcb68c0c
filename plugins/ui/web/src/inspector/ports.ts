// Which recorded values belong to the inspected node: its own outputs, the outputs of its preset
// members (stored as `<preset id>__<inner id>`, api.md §2.10) and, through the canvas edges, its inputs.
import type { Graph, NodeDefinition, PresetDefinition } from '../api/types';
import type { OutputEntry } from './types';

export interface PortRef {
  key: string;
  label: string;
  nodeId: string;
  port: string;
  entry: OutputEntry | null;
  testId: string;
  note?: string;
}

const hidden = (port: string) => port.startsWith('__') || port.endsWith('__grad') || port.endsWith('__grad__meta');

export function outputRefs(listing: OutputEntry[], nodeId: string, definition?: NodeDefinition): PortRef[] {
  const own = listing.filter((e) => e.node_id === nodeId && !hidden(e.port));
  const order = definition?.outputs.map((p) => p.name) ?? [];
  const rank = (port: string) => {
    const i = order.indexOf(port);
    return i < 0 ? order.length : i;
  };
  const refs: PortRef[] = [...own]
    .sort((a, b) => rank(a.port) - rank(b.port))
    .map((e) => ({ key: `out:${e.port}`, label: e.port, nodeId, port: e.port, entry: e, testId: `inspector-port-${e.port}` }));
  for (const name of order) {
    if (!own.some((e) => e.port === name)) {
      refs.push({ key: `out:${name}`, label: name, nodeId, port: name, entry: null, testId: `inspector-port-${name}`, note: 'not recorded' });
    }
  }
  const prefix = `${nodeId}__`;
  for (const e of listing) {
    if (e.node_id.startsWith(prefix) && !hidden(e.port)) {
      const member = e.node_id.slice(prefix.length);
      refs.push({ key: `member:${member}:${e.port}`, label: `${member} › ${e.port}`, nodeId: e.node_id, port: e.port, entry: e, testId: `inspector-port-${member}/${e.port}` });
    }
  }
  return refs;
}

/** Where a preset instance's exposed output lives in the store (inner node id, inner port). */
function resolvePresetOutput(graph: Graph, presetNodeId: string, presetType: string, handle: string, presets: PresetDefinition[]) {
  const name = presetType.slice('preset:'.length);
  const preset = [...(graph.presets ?? []), ...presets].find((p) => p.preset_name === name);
  const exposed = preset?.exposed_outputs.find((p) => p.name === handle);
  return exposed ? { nodeId: `${presetNodeId}__${exposed.internal_node}`, port: exposed.internal_port } : null;
}

export function inputRefs(
  listing: OutputEntry[],
  nodeId: string,
  graph: Graph | null,
  definition?: NodeDefinition,
  presets: PresetDefinition[] = [],
): PortRef[] {
  const refs: PortRef[] = [];
  const seen = new Set<string>();
  const edges = (graph?.edges ?? []).filter((e) => e.target === nodeId && e.type !== 'trigger' && e.targetHandle !== 'trigger');
  for (const edge of edges) {
    const port = edge.targetHandle ?? '';
    const source = graph?.nodes.find((n) => n.id === edge.source);
    let target = { nodeId: edge.source, port: edge.sourceHandle ?? '' };
    if (source?.type.startsWith('preset:')) {
      target = resolvePresetOutput(graph as Graph, source.id, source.type, target.port, presets) ?? target;
    }
    const entry = listing.find((e) => e.node_id === target.nodeId && e.port === target.port) ?? null;
    seen.add(port);
    refs.push({
      key: `in:${port}:${edge.source}.${edge.sourceHandle ?? ''}`,
      label: `${port} ← ${edge.source}.${edge.sourceHandle ?? ''}`,
      nodeId: target.nodeId,
      port: target.port,
      entry,
      testId: `inspector-input-${port}`,
      note: entry ? undefined : 'not recorded',
    });
  }
  for (const p of definition?.inputs ?? []) {
    if (!seen.has(p.name) && p.data_type !== 'TRIGGER') {
      refs.push({ key: `in:${p.name}`, label: p.name, nodeId, port: p.name, entry: null, testId: `inspector-input-${p.name}`, note: p.optional ? 'not connected (optional)' : 'not connected' });
    }
  }
  return refs;
}
