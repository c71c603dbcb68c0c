// Graph JSON <-> canvas state. The round trip keeps every key it does not understand.
import type { Graph, GraphEdge, GraphNode } from '../api/types';
import { NOTE_TYPE, TRIGGER_TARGET, type FlowDoc, type FlowEdge, type FlowNode } from './flow';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function without(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) if (!keys.includes(key)) result[key] = value;
  return result;
}

function finite(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function noteStyle(data: Record<string, unknown>): { width?: number; height?: number } {
  const style: { width?: number; height?: number } = {};
  if (typeof data.noteWidth === 'number') style.width = data.noteWidth;
  if (typeof data.noteHeight === 'number') style.height = data.noteHeight;
  return style;
}

export function nodeFromGraph(node: GraphNode): FlowNode {
  const data = isObject(node.data) ? node.data : undefined;
  const params = data && isObject(data.params) ? data.params : undefined;
  const position = isObject(node.position) ? node.position : undefined;
  const isNote = node.type === NOTE_TYPE;
  const extraData = data ? without(data, ['params']) : {};
  return {
    id: String(node.id),
    type: isNote ? 'note' : 'generic',
    position: { x: finite(position?.x), y: finite(position?.y) },
    data: {
      nodeType: String(node.type),
      params: params ? { ...params } : {},
      extraData,
      extraNode: without(node, ['id', 'type', 'position', 'data']),
      shape: { noPosition: !position, noData: !data, noParams: !params },
    },
    ...(isNote ? { style: noteStyle(extraData), dragHandle: '.nl-note-grip' } : {}),
  };
}

export function edgeFromGraph(edge: GraphEdge, index: number, takenIds: Set<string>): FlowEdge {
  const kind = edge.type === 'trigger' ? 'trigger' : 'data';
  let id = typeof edge.id === 'string' && edge.id ? edge.id : '';
  // React Flow needs unique ids; the original (possibly missing or duplicated) one is restored on export.
  const needsId = !id || takenIds.has(id);
  if (needsId) {
    let n = index;
    do id = `#${n++}`;
    while (takenIds.has(id));
  }
  takenIds.add(id);
  const sourceHandle = typeof edge.sourceHandle === 'string' ? edge.sourceHandle : '';
  const targetHandle = typeof edge.targetHandle === 'string' ? edge.targetHandle : '';
  return {
    id,
    source: String(edge.source),
    target: String(edge.target),
    sourceHandle: sourceHandle || null,
    targetHandle: kind === 'trigger' ? TRIGGER_TARGET : targetHandle || null,
    type: 'default',
    data: {
      kind,
      extraEdge: without(edge, ['id', 'source', 'target', 'sourceHandle', 'targetHandle', 'type']),
      shape: {
        noId: !('id' in edge),
        noSourceHandle: !('sourceHandle' in edge),
        noTargetHandle: !('targetHandle' in edge),
        noType: !('type' in edge),
        ...(kind === 'trigger' ? { triggerTargetHandle: targetHandle } : {}),
        ...(needsId && 'id' in edge ? { originalId: edge.id } : {}),
      },
    },
    ...(kind === 'trigger' ? { className: 'nl-edge-trigger' } : {}),
  };
}

export function graphToDoc(graph: Graph): FlowDoc {
  const nodes = Array.isArray(graph.nodes) ? graph.nodes.filter(isObject) : [];
  const edges = Array.isArray(graph.edges) ? graph.edges.filter(isObject) : [];
  const taken = new Set<string>();
  return {
    nodes: nodes.map((n) => nodeFromGraph(n as GraphNode)),
    edges: edges.map((e, i) => edgeFromGraph(e as GraphEdge, i, taken)),
    meta: without(graph, ['nodes', 'edges']),
  };
}

export function nodeToGraph(node: FlowNode): GraphNode {
  const { nodeType, params, extraData, extraNode, shape } = node.data;
  const out: GraphNode = { ...extraNode, id: node.id, type: nodeType };
  const moved = node.position.x !== 0 || node.position.y !== 0;
  if (!shape.noPosition || moved) out.position = { x: node.position.x, y: node.position.y };
  const data: Record<string, unknown> = { ...extraData };
  if (!shape.noParams || Object.keys(params).length > 0) data.params = { ...params };
  if (!shape.noData || Object.keys(data).length > 0) out.data = data;
  return out;
}

export function edgeToGraph(edge: FlowEdge): GraphEdge {
  const data = edge.data ?? { kind: 'data' as const, extraEdge: {}, shape: {} };
  const { shape } = data;
  const out: GraphEdge = { ...data.extraEdge, source: edge.source, target: edge.target };
  if (shape.originalId !== undefined) out.id = shape.originalId;
  else if (!shape.noId) out.id = edge.id;
  const sourceHandle = edge.sourceHandle ?? '';
  if (!shape.noSourceHandle || sourceHandle) out.sourceHandle = sourceHandle;
  if (data.kind === 'trigger') {
    const written = shape.triggerTargetHandle ?? '';
    if (!shape.noTargetHandle || written) out.targetHandle = written;
  } else {
    const targetHandle = edge.targetHandle ?? '';
    if (!shape.noTargetHandle || targetHandle) out.targetHandle = targetHandle;
  }
  if (!shape.noType || data.kind === 'trigger') out.type = data.kind;
  return out;
}

export function docToGraph(doc: FlowDoc): Graph {
  return { ...doc.meta, nodes: doc.nodes.map(nodeToGraph), edges: doc.edges.map(edgeToGraph) };
}

export function graphFromJsonText(text: string): Graph {
  const parsed: unknown = JSON.parse(text);
  if (!isObject(parsed) || !Array.isArray(parsed.nodes) || !Array.isArray(parsed.edges)) {
    throw new Error("Graph must be a JSON object with 'nodes' and 'edges' arrays");
  }
  return parsed as Graph;
}
