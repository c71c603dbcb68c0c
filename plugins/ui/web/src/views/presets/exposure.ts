// Which ports of a canvas selection could become preset ports (api.md §2.3.3 step 10), so the user
// can pick them instead of taking the server's automatic choice.
import type { GraphEdge, GraphNode, NodeDefinition, PresetDefinition } from '../../api/types';

export interface PortCandidate {
  node: string;
  nodeType: string;
  port: string;
  dataType: string;
  side: 'input' | 'output';
  /** Fed (input) or consumed (output) by an edge inside the selection. */
  internal: boolean;
}

export interface ExposeSpec {
  node: string;
  port: string;
}

function findDefinition(type: string, defs: NodeDefinition[]): NodeDefinition | undefined {
  // Bare names resolve to a single plugin-qualified key, as the engine does.
  return defs.find((d) => d.node_name === type) ?? defs.find((d) => d.node_name.endsWith(`:${type}`));
}

function portsOf(node: GraphNode, defs: NodeDefinition[], presets: PresetDefinition[]) {
  if (node.type.startsWith('preset:')) {
    const preset = presets.find((p) => p.preset_name === node.type.slice('preset:'.length));
    if (!preset) return { inputs: [], outputs: [] };
    const wire = (list: PresetDefinition['exposed_inputs']) => list.map((p) => ({ name: p.name, data_type: p.data_type }));
    return { inputs: wire(preset.exposed_inputs), outputs: wire(preset.exposed_outputs) };
  }
  const def = findDefinition(node.type, defs);
  return { inputs: def?.inputs ?? [], outputs: def?.outputs ?? [] };
}

/** Data edges with both ends inside the selection: what the server keeps as internal edges. */
export function internalEdges(nodes: GraphNode[], edges: GraphEdge[]): GraphEdge[] {
  const ids = new Set(nodes.map((n) => n.id));
  return edges.filter((e) => e.type !== 'trigger' && ids.has(e.source) && ids.has(e.target));
}

export function portCandidates(
  nodes: GraphNode[],
  edges: GraphEdge[],
  defs: NodeDefinition[],
  presets: PresetDefinition[],
): PortCandidate[] {
  const inner = internalEdges(nodes, edges);
  const fed = new Set(inner.map((e) => `${e.target}\u0000${e.targetHandle ?? ''}`));
  const used = new Set(inner.map((e) => `${e.source}\u0000${e.sourceHandle ?? ''}`));
  const out: PortCandidate[] = [];
  for (const node of nodes) {
    if (node.type === 'note') continue;
    const ports = portsOf(node, defs, presets);
    for (const p of ports.inputs) {
      if (p.data_type === 'TRIGGER') continue;
      out.push({ node: node.id, nodeType: node.type, port: p.name, dataType: p.data_type, side: 'input', internal: fed.has(`${node.id}\u0000${p.name}`) });
    }
    for (const p of ports.outputs) {
      if (p.data_type === 'TRIGGER') continue;
      out.push({ node: node.id, nodeType: node.type, port: p.name, dataType: p.data_type, side: 'output', internal: used.has(`${node.id}\u0000${p.name}`) });
    }
  }
  return out;
}

export function candidateKey(c: { node: string; port: string; side: string }): string {
  return `${c.side}\u0000${c.node}\u0000${c.port}`;
}

/** The server's automatic choice: every port without an internal edge on its side. */
export function automaticSelection(candidates: PortCandidate[]): Set<string> {
  return new Set(candidates.filter((c) => !c.internal).map(candidateKey));
}

export function exposeLists(candidates: PortCandidate[], chosen: Set<string>): { inputs: ExposeSpec[]; outputs: ExposeSpec[] } {
  const pick = (side: 'input' | 'output') =>
    candidates.filter((c) => c.side === side && chosen.has(candidateKey(c))).map((c) => ({ node: c.node, port: c.port }));
  return { inputs: pick('input'), outputs: pick('output') };
}
