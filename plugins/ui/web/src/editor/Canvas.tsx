// The React Flow canvas of one tab: controlled by the workspace store, so every edit goes through
// the tab's undo history.
import {
  applyEdgeChanges,
  applyNodeChanges,
  Background,
  BackgroundVariant,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useNodesInitialized,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type Viewport,
} from '@xyflow/react';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { PresetDefinition } from '../api/types';
import { resolveDefinition } from '../defs/definitions';
import { definitionsStore } from '../defs/definitionsStore';
import { portColour, TRIGGER } from '../graph/compat';
import { emptyDoc, type FlowDoc, type FlowEdge, type FlowNode } from '../graph/flow';
import { connectionKind, nodePorts, type PortLookup } from '../graph/ports';
import { useStore } from '../store/store';
import { addNodeAt } from './actions';
import { registerCanvasApi } from './canvasApi';
import { CanvasSearch } from './CanvasSearch';
import { connect, edgeHandlesByNode, setNodeData } from './docOps';
import { cachedDynamicOutputs } from './dynamicPorts';
import { NodeEnvironmentContext, type NodeEnvironment } from './nodes/context';
import { GenericNode } from './nodes/GenericNode';
import { NoteNode } from './nodes/NoteNode';
import { DRAG_MIME } from './paletteEntries';
import { checkpointDoc, setViewport, updateDoc, type DocUpdate } from './workspace';
import { workspaceStore } from './workspaceStore';

const nodeTypes = { generic: GenericNode, note: NoteNode };
const EMPTY = emptyDoc();
const NO_HANDLES = { inputs: [] as string[], outputs: [] as string[] };
const VIRTUALISE_ABOVE = 150;

interface Props {
  tabId: string;
  onOpenInspector(nodeId: string): void;
}

interface SearchAt {
  screen: { x: number; y: number };
  flow: { x: number; y: number };
}

function CanvasView({ tabId, onOpenInspector }: Props) {
  const doc = useStore(workspaceStore, (ws) => ws.tabs.find((t) => t.id === tabId)?.history.present ?? EMPTY);
  const initialViewport = useRef(workspaceStore.get().tabs.find((t) => t.id === tabId)?.viewport ?? null);
  // Fitting is for opening a graph; a canvas that starts empty must not zoom onto its first node.
  const fitOnOpen = useRef(!initialViewport.current && doc.nodes.length > 0);
  const defs = useStore(definitionsStore, (d) => d);
  const flow = useReactFlow<FlowNode, FlowEdge>();
  const wrapper = useRef<HTMLDivElement>(null);
  const [search, setSearch] = useState<SearchAt | null>(null);

  const edit = useCallback(
    (fn: (d: FlowDoc) => FlowDoc, mode: DocUpdate) => workspaceStore.set((ws) => updateDoc(ws, tabId, fn, mode)),
    [tabId],
  );

  const embedded = Array.isArray(doc.meta.presets) ? (doc.meta.presets as PresetDefinition[]) : undefined;
  const docEdges = doc.edges;
  const edgeHandles = useMemo(() => edgeHandlesByNode(docEdges), [docEdges]);

  const ports: PortLookup = useCallback(
    (node) => {
      const def = resolveDefinition(defs, node.data.nodeType, embedded);
      return nodePorts(node, def, cachedDynamicOutputs(def, node.data.params), edgeHandles.get(node.id) ?? NO_HANDLES);
    },
    [defs, embedded, edgeHandles],
  );

  // Edge colours depend on node types, not positions; the signature keeps drags from restyling edges.
  const latestNodes = useRef(doc.nodes);
  latestNodes.current = doc.nodes;
  const typeSignature = useMemo(() => doc.nodes.map((n) => `${n.id}\u0001${n.data.nodeType}`).join('\u0002'), [doc.nodes]);
  const edges = useMemo(() => {
    const byId = new Map(latestNodes.current.map((n) => [n.id, n]));
    return docEdges.map((edge) => {
      const source = byId.get(edge.source);
      const type = edge.data?.kind === 'trigger' ? TRIGGER : source ? ports(source).outputs.find((p) => p.name === edge.sourceHandle)?.data_type : undefined;
      return type ? { ...edge, style: { ...edge.style, stroke: portColour(type) } } : edge;
    });
    // typeSignature stands in for doc.nodes (read through latestNodes) so node drags do not restyle edges.
  }, [docEdges, typeSignature, ports]);

  const onNodesChange = useCallback(
    (changes: NodeChange<FlowNode>[]) => {
      // Deletion goes through deleteSelection so nodes and their edges leave in one undo step.
      const kept = changes.filter((c) => c.type !== 'remove');
      if (kept.length) edit((d) => ({ ...d, nodes: applyNodeChanges(kept, d.nodes) }), 'replace');
    },
    [edit],
  );

  const onEdgesChange = useCallback(
    (changes: EdgeChange<FlowEdge>[]) => {
      const kept = changes.filter((c) => c.type !== 'remove');
      if (kept.length) edit((d) => ({ ...d, edges: applyEdgeChanges(kept, d.edges) }), 'replace');
    },
    [edit],
  );

  const kindOf = useCallback(
    (connection: Connection | Edge) =>
      connectionKind(
        { source: connection.source, target: connection.target, sourceHandle: connection.sourceHandle ?? null, targetHandle: connection.targetHandle ?? null },
        workspaceStore.get().tabs.find((t) => t.id === tabId)?.history.present ?? EMPTY,
        ports,
      ),
    [ports, tabId],
  );

  const onConnect = useCallback(
    (connection: Connection) => {
      const kind = kindOf(connection);
      if (kind) edit((d) => connect(d, connection, kind), 'commit');
    },
    [edit, kindOf],
  );

  const isValidConnection = useCallback((connection: Connection | Edge) => kindOf(connection) !== null, [kindOf]);

  const onDragStart = useCallback(() => workspaceStore.set((ws) => checkpointDoc(ws, tabId)), [tabId]);

  const onMoveEnd = useCallback(
    (_: unknown, viewport: Viewport) => workspaceStore.set((ws) => setViewport(ws, tabId, viewport)),
    [tabId],
  );

  const onDrop = useCallback(
    (event: React.DragEvent) => {
      const nodeType = event.dataTransfer.getData(DRAG_MIME) || event.dataTransfer.getData('text/plain');
      if (!nodeType) return;
      event.preventDefault();
      addNodeAt(nodeType, flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }));
    },
    [flow],
  );

  const onDragOver = useCallback((event: React.DragEvent) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  }, []);

  const onDoubleClick = useCallback(
    (event: React.MouseEvent) => {
      const target = event.target as Element;
      if (!target.closest('.react-flow__pane') || target.closest('.react-flow__node')) return;
      const rect = wrapper.current?.getBoundingClientRect();
      if (!rect) return;
      setSearch({
        screen: { x: event.clientX - rect.left, y: event.clientY - rect.top },
        flow: flow.screenToFlowPosition({ x: event.clientX, y: event.clientY }),
      });
    },
    [flow],
  );

  // Fitted by hand once every node has its size: the fitView prop can fire before that.
  const initialised = useNodesInitialized();
  useEffect(() => {
    if (!initialised || !fitOnOpen.current) return;
    fitOnOpen.current = false;
    void flow.fitView({ maxZoom: 1.2, padding: 0.1 });
  }, [initialised, flow]);

  useEffect(() => {
    registerCanvasApi({
      centre: () => {
        const rect = wrapper.current?.getBoundingClientRect();
        if (!rect) return { x: 0, y: 0 };
        const jitter = () => Math.round((Math.random() - 0.5) * 40);
        return flow.screenToFlowPosition({ x: rect.left + rect.width / 2 + jitter(), y: rect.top + rect.height / 2 + jitter() });
      },
    });
    return () => registerCanvasApi(null);
  }, [flow]);

  const environment: NodeEnvironment = useMemo(
    () => ({
      tabId,
      embeddedPresets: embedded,
      edgeHandles,
      setNoteData: (nodeId, patch) => edit((d) => setNodeData(d, nodeId, patch), 'commit'),
      openInspector: onOpenInspector,
    }),
    [tabId, embedded, edgeHandles, edit, onOpenInspector],
  );

  return (
    <div className="nl-canvas" data-testid="canvas" ref={wrapper} onDoubleClick={onDoubleClick} onDrop={onDrop} onDragOver={onDragOver}>
      <NodeEnvironmentContext.Provider value={environment}>
        <ReactFlow<FlowNode, FlowEdge>
          nodes={doc.nodes}
          edges={edges}
          nodeTypes={nodeTypes}
          onNodesChange={onNodesChange}
          onEdgesChange={onEdgesChange}
          onConnect={onConnect}
          isValidConnection={isValidConnection}
          onNodeDragStart={onDragStart}
          onSelectionDragStart={onDragStart}
          onMoveEnd={onMoveEnd}
          defaultViewport={initialViewport.current ?? undefined}
          deleteKeyCode={null}
          zoomOnDoubleClick={false}
          minZoom={0.05}
          maxZoom={2.5}
          onlyRenderVisibleElements={doc.nodes.length > VIRTUALISE_ABOVE}
          colorMode="system"
        >
          <Background variant={BackgroundVariant.Dots} gap={18} size={1} />
          <Controls showInteractive={false} />
          {doc.nodes.length <= 400 && <MiniMap pannable zoomable className="nl-minimap" />}
        </ReactFlow>
      </NodeEnvironmentContext.Provider>
      {doc.nodes.length === 0 && (
        <div className="nl-canvas-hint">Drag nodes from the palette, or double-click the canvas to search.</div>
      )}
      {search && (
        <CanvasSearch
          screen={search.screen}
          onClose={() => setSearch(null)}
          onPick={(nodeType) => {
            addNodeAt(nodeType, search.flow);
            setSearch(null);
          }}
        />
      )}
    </div>
  );
}

/** Each tab gets its own React Flow store, so viewport and fit-on-open state never leak between tabs. */
export function Canvas(props: Props) {
  return (
    <ReactFlowProvider>
      <CanvasView {...props} />
    </ReactFlowProvider>
  );
}
