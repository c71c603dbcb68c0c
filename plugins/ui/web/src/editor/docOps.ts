// Edits of one graph document. Pure: each returns a new FlowDoc (or the same one when nothing changed).
import type { Connection, XYPosition } from '@xyflow/react';
import type { GraphEdge, GraphNode } from '../api/types';
import { NOTE_TYPE, TRIGGER_TARGET, type FlowDoc, type FlowEdge, type FlowNode } from '../graph/flow';
import { uniqueEdgeId, uniqueNodeId } from '../graph/ids';
import { edgeFromGraph, edgeToGraph, nodeFromGraph, nodeToGraph } from '../graph/serialize';

export function nodeIds(doc: FlowDoc): Set<string> {
  return new Set(doc.nodes.map((n) => n.id));
}

function deselected<T extends { selected?: boolean }>(items: T[]): T[] {
  return items.map((item) => (item.selected ? { ...item, selected: false } : item));
}

export function addNode(
  doc: FlowDoc,
  nodeType: string,
  position: XYPosition,
  params: Record<string, unknown>,
): { doc: FlowDoc; id: string } {
  const id = uniqueNodeId(nodeType, nodeIds(doc));
  const node = nodeFromGraph({ id, type: nodeType, position, data: { params } });
  return { doc: { ...doc, nodes: [...deselected(doc.nodes), { ...node, selected: true }], edges: deselected(doc.edges) }, id };
}

export const NOTE_DEFAULTS = {
  noteKind: 'text',
  noteContent: '',
  noteColor: '#fff3b0',
  boundToNodeId: null,
  boundOffset: null,
  noteWidth: 220,
  noteHeight: 120,
};

export function addNote(doc: FlowDoc, position: XYPosition): { doc: FlowDoc; id: string } {
  const id = uniqueNodeId('note', nodeIds(doc));
  const node = nodeFromGraph({ id, type: NOTE_TYPE, position, data: { ...NOTE_DEFAULTS } });
  return { doc: { ...doc, nodes: [...deselected(doc.nodes), { ...node, selected: true }] }, id };
}

/**
 * Adds the edge. An input takes one data edge (more only earn a warning, engine.md §5 rule 5.5),
 * so a new data edge replaces the one already feeding that input.
 */
export function connect(doc: FlowDoc, connection: Connection, kind: 'data' | 'trigger'): FlowDoc {
  const sameInput = (e: FlowEdge) => e.target === connection.target && e.targetHandle === connection.targetHandle;
  const kept =
    kind === 'data'
      ? doc.edges.filter((e) => !sameInput(e))
      : doc.edges.filter((e) => !(sameInput(e) && e.source === connection.source && e.sourceHandle === connection.sourceHandle));
  const id = uniqueEdgeId(new Set(doc.edges.map((e) => e.id)));
  const written: GraphEdge = {
    id,
    source: connection.source,
    target: connection.target,
    sourceHandle: connection.sourceHandle ?? '',
    targetHandle: kind === 'trigger' ? '' : (connection.targetHandle ?? ''),
    type: kind,
  };
  const edge = edgeFromGraph(written, 0, new Set(kept.map((e) => e.id)));
  return { ...doc, edges: [...kept, edge] };
}

export function hasSelection(doc: FlowDoc): boolean {
  return doc.nodes.some((n) => n.selected) || doc.edges.some((e) => e.selected);
}

export function deleteSelection(doc: FlowDoc): FlowDoc {
  if (!hasSelection(doc)) return doc;
  const removed = new Set(doc.nodes.filter((n) => n.selected).map((n) => n.id));
  return {
    ...doc,
    nodes: doc.nodes.filter((n) => !n.selected),
    edges: doc.edges.filter((e) => !e.selected && !removed.has(e.source) && !removed.has(e.target)),
  };
}

export function selectAll(doc: FlowDoc): FlowDoc {
  return {
    ...doc,
    nodes: doc.nodes.map((n) => (n.selected ? n : { ...n, selected: true })),
    edges: doc.edges.map((e) => (e.selected ? e : { ...e, selected: true })),
  };
}

function updateNode(doc: FlowDoc, id: string, fn: (node: FlowNode) => FlowNode): FlowDoc {
  let changed = false;
  const nodes = doc.nodes.map((n) => {
    if (n.id !== id) return n;
    const next = fn(n);
    changed = changed || next !== n;
    return next;
  });
  return changed ? { ...doc, nodes } : doc;
}

export function setParam(doc: FlowDoc, nodeId: string, name: string, value: unknown): FlowDoc {
  return updateNode(doc, nodeId, (n) =>
    Object.is(n.data.params[name], value) && name in n.data.params ? n : { ...n, data: { ...n.data, params: { ...n.data.params, [name]: value } } },
  );
}

/** Preset instances keep their overrides per internal node (engine.md §4.2 step 2). */
export function setInternalParam(doc: FlowDoc, nodeId: string, internalNode: string, name: string, value: unknown): FlowDoc {
  return updateNode(doc, nodeId, (n) => {
    const current = n.data.extraData.internalParams;
    const all = typeof current === 'object' && current !== null ? (current as Record<string, Record<string, unknown>>) : {};
    const forNode = { ...(all[internalNode] ?? {}), [name]: value };
    return { ...n, data: { ...n.data, extraData: { ...n.data.extraData, internalParams: { ...all, [internalNode]: forNode } } } };
  });
}

export function setNodeData(doc: FlowDoc, nodeId: string, patch: Record<string, unknown>): FlowDoc {
  return updateNode(doc, nodeId, (n) => {
    const style = n.type === 'note' ? { ...n.style, ...noteSize(patch) } : n.style;
    return { ...n, style, data: { ...n.data, extraData: { ...n.data.extraData, ...patch } } };
  });
}

function noteSize(patch: Record<string, unknown>): { width?: number; height?: number } {
  const size: { width?: number; height?: number } = {};
  if (typeof patch.noteWidth === 'number') size.width = patch.noteWidth;
  if (typeof patch.noteHeight === 'number') size.height = patch.noteHeight;
  return size;
}

export function setGraphMeta(doc: FlowDoc, patch: Record<string, unknown>): FlowDoc {
  return { ...doc, meta: { ...doc.meta, ...patch } };
}

export interface ClipboardPayload {
  nodeloomClipboard: 1;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export function copySelection(doc: FlowDoc): ClipboardPayload | null {
  const nodes = doc.nodes.filter((n) => n.selected);
  if (nodes.length === 0) return null;
  const ids = new Set(nodes.map((n) => n.id));
  const edges = doc.edges.filter((e) => ids.has(e.source) && ids.has(e.target));
  return { nodeloomClipboard: 1, nodes: nodes.map(nodeToGraph), edges: edges.map(edgeToGraph) };
}

export function isClipboardPayload(value: unknown): value is ClipboardPayload {
  const v = value as Partial<ClipboardPayload> | null;
  return !!v && v.nodeloomClipboard === 1 && Array.isArray(v.nodes) && Array.isArray(v.edges);
}

/** Pasted nodes get fresh ids (edges and note bindings follow) and become the selection. */
export function paste(doc: FlowDoc, payload: ClipboardPayload, offset: XYPosition): FlowDoc {
  const taken = nodeIds(doc);
  const mapping = new Map<string, string>();
  for (const node of payload.nodes) {
    const id = uniqueNodeId(node.type === NOTE_TYPE ? 'note' : node.type, taken);
    taken.add(id);
    mapping.set(node.id, id);
  }
  const nodes = payload.nodes.map((node) => {
    const position = node.position ?? { x: 0, y: 0 };
    const data = { ...(node.data ?? {}) };
    if (typeof data.boundToNodeId === 'string') data.boundToNodeId = mapping.get(data.boundToNodeId) ?? null;
    const flow = nodeFromGraph({ ...node, id: mapping.get(node.id) as string, position: { x: position.x + offset.x, y: position.y + offset.y }, data });
    return { ...flow, selected: true };
  });
  const edgeIds = new Set(doc.edges.map((e) => e.id));
  const edges = payload.edges
    .filter((e) => mapping.has(e.source) && mapping.has(e.target))
    .map((e) => {
      const id = uniqueEdgeId(edgeIds);
      edgeIds.add(id);
      return { ...edgeFromGraph({ ...e, id, source: mapping.get(e.source) as string, target: mapping.get(e.target) as string }, 0, new Set()), selected: true };
    });
  return { ...doc, nodes: [...deselected(doc.nodes), ...nodes], edges: [...deselected(doc.edges), ...edges] };
}

export function edgeHandlesByNode(edges: readonly FlowEdge[]): Map<string, { inputs: string[]; outputs: string[] }> {
  const map = new Map<string, { inputs: string[]; outputs: string[] }>();
  const entry = (id: string) => {
    let e = map.get(id);
    if (!e) {
      e = { inputs: [], outputs: [] };
      map.set(id, e);
    }
    return e;
  };
  for (const edge of edges) {
    if (edge.sourceHandle) entry(edge.source).outputs.push(edge.sourceHandle);
    if (edge.targetHandle && edge.targetHandle !== TRIGGER_TARGET) entry(edge.target).inputs.push(edge.targetHandle);
  }
  return map;
}
