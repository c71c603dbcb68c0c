import { useEffect, useState } from 'react';
import type { EditorBridge } from '../../editor/bridge';
import type { GraphEdge, GraphNode } from '../../api/types';
import { internalEdges } from './exposure';

export interface SelectionSnapshot {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

const POLL_MS = 500;

function snapshot(bridge: EditorBridge): SelectionSnapshot {
  // The editor's selection already carries every edge among the selected nodes; edges that leave
  // the selection would be dropped by the server anyway.
  const { nodes, edges } = bridge.selection();
  return { nodes, edges: internalEdges(nodes, edges) };
}

function signature(s: SelectionSnapshot): string {
  return `${s.nodes.map((n) => `${n.id}:${n.type}`).join(',')}|${s.edges.map((e) => `${e.source}.${e.sourceHandle}>${e.target}.${e.targetHandle}`).join(',')}`;
}

/** The bridge offers no change events, so the selection is sampled while the view is open. */
export function useSelection(bridge: EditorBridge): SelectionSnapshot {
  const [state, setState] = useState<SelectionSnapshot>(() => snapshot(bridge));
  useEffect(() => {
    let last = signature(snapshot(bridge));
    const timer = setInterval(() => {
      const next = snapshot(bridge);
      const sig = signature(next);
      if (sig !== last) {
        last = sig;
        setState(next);
      }
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [bridge]);
  return state;
}
