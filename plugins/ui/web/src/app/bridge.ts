// The editor as library views see it (EditorBridge in editor/bridge.ts).
import type { GraphEdge, GraphNode } from '../api/types';
import { definitionsStore } from '../defs/definitionsStore';
import { activeDoc, activeGraph, addNodeAt, openGraph } from '../editor/actions';
import type { EditorBridge } from '../editor/bridge';
import { edgeToGraph, nodeToGraph } from '../graph/serialize';
import { PRESET_PREFIX } from '../defs/definitions';
import { currentTab } from '../editor/workspaceStore';
import { runController } from './services';

export function createBridge(showView: (view: string) => void): EditorBridge {
  return {
    openGraph(graph, name) {
      openGraph(graph, name);
      showView('editor');
    },
    currentGraph: () => activeGraph(),
    currentName: () => currentTab().savedName,
    selection() {
      const doc = activeDoc();
      const nodes: GraphNode[] = doc.nodes.filter((n) => n.selected).map(nodeToGraph);
      const ids = new Set(nodes.map((n) => n.id));
      const edges: GraphEdge[] = doc.edges
        .filter((e) => e.selected || (ids.has(e.source) && ids.has(e.target)))
        .map(edgeToGraph);
      return { nodes, edges };
    },
    insertPreset(name) {
      showView('editor');
      // The canvas may be mounting now that the editor is shown; wait for its layout.
      requestAnimationFrame(() => addNodeAt(`${PRESET_PREFIX}${name}`));
    },
    showView,
    nodeDefinitions: () => definitionsStore.get().nodes,
    lastRunId: () => runController.run.get().runId,
  };
}
