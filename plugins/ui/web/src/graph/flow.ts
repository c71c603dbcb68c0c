// The canvas's view of a graph. Everything of the JSON that the canvas does not edit is carried in
// `extra*` fields so export writes it back unchanged (engine.md §1.1: unknown keys are preserved).
import type { Edge, Node } from '@xyflow/react';

export const NOTE_TYPE = 'note';
export const START_TYPE = 'Start';
/** Handle id of the trigger input every runnable node has; graph JSON writes it as "" (engine.md §1.3). */
export const TRIGGER_TARGET = '__trigger';

export interface NodeShape {
  /** The original node had no `position` / `data` / `data.params` key. */
  noPosition?: boolean;
  noData?: boolean;
  noParams?: boolean;
}

export interface NodeData extends Record<string, unknown> {
  nodeType: string;
  params: Record<string, unknown>;
  /** `data` keys other than `params`: internalParams, note fields, other UI keys. */
  extraData: Record<string, unknown>;
  /** Node keys other than id, type, position and data. */
  extraNode: Record<string, unknown>;
  shape: NodeShape;
}

export type FlowNodeKind = 'generic' | 'note';
export type FlowNode = Node<NodeData, FlowNodeKind>;

export interface EdgeShape {
  noId?: boolean;
  noSourceHandle?: boolean;
  noTargetHandle?: boolean;
  noType?: boolean;
  /** A trigger edge's targetHandle as written ("" normally); the canvas uses TRIGGER_TARGET. */
  triggerTargetHandle?: string;
  /** The written id when it could not be used on the canvas (a duplicate, or not a string). */
  originalId?: string;
}

export interface EdgeData extends Record<string, unknown> {
  kind: 'data' | 'trigger';
  extraEdge: Record<string, unknown>;
  shape: EdgeShape;
}

export type FlowEdge = Edge<EdgeData>;

export interface FlowDoc {
  nodes: FlowNode[];
  edges: FlowEdge[];
  /** Top-level graph keys other than nodes and edges (name, presets, segmentGroups, unknown keys). */
  meta: Record<string, unknown>;
}

export function emptyDoc(name = 'Untitled'): FlowDoc {
  return { nodes: [], edges: [], meta: { name, description: '', format_version: 1 } };
}
