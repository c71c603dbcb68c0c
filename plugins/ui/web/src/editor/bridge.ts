// What the library views (UI-B) may ask of the editor, without reaching into its state.
import { createContext, useContext } from 'react';
import type { Graph, GraphEdge, GraphNode, NodeDefinition } from '../api/types';

export interface EditorBridge {
  openGraph(graph: Graph, name?: string): void;
  currentGraph(): Graph;
  currentName(): string | null;
  selection(): { nodes: GraphNode[]; edges: GraphEdge[] };
  insertPreset(name: string): void;
  showView(view: string): void;
  nodeDefinitions(): NodeDefinition[];
  lastRunId(): string | null;
}

export const EditorBridgeContext = createContext<EditorBridge | null>(null);

export function useEditorBridge(): EditorBridge {
  const bridge = useContext(EditorBridgeContext);
  if (!bridge) throw new Error('useEditorBridge() used outside <EditorBridgeContext.Provider>');
  return bridge;
}
