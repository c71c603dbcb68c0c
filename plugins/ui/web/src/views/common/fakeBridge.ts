// Test helper: an EditorBridge whose calls are recorded. Not imported by application code.
import { vi } from 'vitest';
import type { Graph, GraphEdge, GraphNode, NodeDefinition } from '../../api/types';
import type { EditorBridge } from '../../editor/bridge';

export function fakeBridge(init: { graph?: Graph; name?: string | null; selection?: { nodes: GraphNode[]; edges: GraphEdge[] }; defs?: NodeDefinition[] } = {}) {
  const graph: Graph = init.graph ?? { name: 'Untitled', nodes: [], edges: [] };
  const bridge = {
    openGraph: vi.fn<(graph: Graph, name?: string) => void>(),
    currentGraph: vi.fn(() => graph),
    currentName: vi.fn(() => (init.name === undefined ? null : init.name)),
    selection: vi.fn(() => init.selection ?? { nodes: [], edges: [] }),
    insertPreset: vi.fn<(name: string) => void>(),
    showView: vi.fn<(view: string) => void>(),
    nodeDefinitions: vi.fn(() => init.defs ?? []),
    lastRunId: vi.fn(() => null),
  } satisfies EditorBridge;
  return bridge;
}
