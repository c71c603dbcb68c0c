import { act, render, screen } from '@testing-library/react';
import { ReactFlow, ReactFlowProvider } from '@xyflow/react';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Graph } from '../../api/types';
import { runController } from '../../app/services';
import { buildDefinitions, EMPTY_DEFINITIONS } from '../../defs/definitions';
import { definitionsStore } from '../../defs/definitionsStore';
import { TRIGGER_TARGET } from '../../graph/flow';
import { graphToDoc } from '../../graph/serialize';
import { beginRun, IDLE_RUN } from '../../run/runState';
import { ALL } from '../../test/fixtures';
import { edgeHandlesByNode } from '../docOps';
import { validationStore } from '../validationStore';
import { NodeEnvironmentContext, type NodeEnvironment } from './context';
import { GenericNode } from './GenericNode';

const nodeTypes = { generic: GenericNode };
const TAB = 'tab-test';

beforeAll(() => {
  // React Flow measures through these; jsdom has no layout.
  const g = globalThis as unknown as { DOMMatrixReadOnly?: unknown };
  g.DOMMatrixReadOnly ??= class {
    m22 = 1;
    constructor(_: string) {}
  };
  Object.defineProperties(HTMLElement.prototype, {
    offsetHeight: { get: () => 100, configurable: true },
    offsetWidth: { get: () => 200, configurable: true },
  });
});

const opened: string[] = [];

function renderGraph(graph: Graph, selected: string[] = []) {
  const doc = graphToDoc(graph);
  const nodes = doc.nodes.map((n) => (selected.includes(n.id) ? { ...n, selected: true } : n));
  const env: NodeEnvironment = {
    tabId: TAB,
    embeddedPresets: undefined,
    edgeHandles: edgeHandlesByNode(doc.edges),
    setNoteData: () => undefined,
    openInspector: (id) => opened.push(id),
  };
  return render(
    <ReactFlowProvider>
      <NodeEnvironmentContext.Provider value={env}>
        <div style={{ width: 800, height: 600 }}>
          <ReactFlow nodes={nodes} edges={doc.edges} nodeTypes={nodeTypes} />
        </div>
      </NodeEnvironmentContext.Provider>
    </ReactFlowProvider>,
  );
}

function handle(nodeId: string, port: string, kind: 'source' | 'target'): Element | null {
  return screen.getByTestId(`node-${nodeId}`).querySelector(`.react-flow__handle.${kind}[data-handleid="${port}"]`);
}

const GRAPH: Graph = {
  nodes: [
    { id: 's', type: 'Start' },
    { id: 't', type: 'TensorInput', position: { x: 200, y: 0 } },
    { id: 'p', type: 'Print', position: { x: 400, y: 0 } },
    { id: 'l', type: 'Linear', position: { x: 600, y: 0 } },
  ],
  edges: [],
};

beforeEach(() => {
  definitionsStore.set(buildDefinitions(ALL, []));
  runController.run.set(IDLE_RUN);
  validationStore.set({ tabId: null, report: null, byNode: {}, error: null });
  opened.length = 0;
});

afterEach(() => definitionsStore.set(EMPTY_DEFINITIONS));

describe('GenericNode', () => {
  it('renders title, type, status and one handle per port from the definition', () => {
    renderGraph(GRAPH);
    const tensor = screen.getByTestId('node-t');
    expect(tensor).toHaveAttribute('data-type', 'TensorInput');
    expect(tensor).toHaveAttribute('data-status', 'idle');
    expect(tensor).toHaveTextContent('TensorInput');
    expect(handle('t', 'tensor', 'source')).not.toBeNull();
    expect(handle('t', TRIGGER_TARGET, 'target')).not.toBeNull();

    expect(handle('p', 'value', 'target')).not.toBeNull();
    expect(handle('p', 'value', 'source')).not.toBeNull();
    expect(handle('l', 'tensor', 'target')).not.toBeNull();
    expect(handle('l', 'bias', 'target')).not.toBeNull();
    expect(screen.getByTestId('node-l')).toHaveTextContent('bias');

    // Start is a trigger source only.
    expect(handle('s', 'trigger', 'source')).not.toBeNull();
    expect(handle('s', TRIGGER_TARGET, 'target')).toBeNull();
  });

  it('colours handles by port type', () => {
    renderGraph(GRAPH);
    const tensorOut = handle('t', 'tensor', 'source') as HTMLElement;
    const anyIn = handle('p', 'value', 'target') as HTMLElement;
    expect(tensorOut.getAttribute('data-port-type')).toBe('TENSOR');
    expect(anyIn.getAttribute('data-port-type')).toBe('ANY');
    expect(tensorOut.style.background).not.toBe(anyIn.style.background);
  });

  it('follows run status and shows node errors', () => {
    renderGraph(GRAPH);
    act(() =>
      runController.run.set({
        ...beginRun(IDLE_RUN, 'r1', TAB, false),
        phase: 'running',
        nodes: { t: { status: 'completed' }, p: { status: 'error', error: 'value is not a tensor' }, l: { status: 'running' } },
      }),
    );
    expect(screen.getByTestId('node-t')).toHaveAttribute('data-status', 'completed');
    expect(screen.getByTestId('node-l')).toHaveAttribute('data-status', 'running');
    expect(screen.getByTestId('node-p')).toHaveAttribute('data-status', 'error');
    expect(screen.getByTestId('node-error-p')).toHaveTextContent('value is not a tensor');
  });

  it('ignores the run of another tab', () => {
    renderGraph(GRAPH);
    act(() => runController.run.set({ ...beginRun(IDLE_RUN, 'r1', 'another-tab', false), nodes: { t: { status: 'error', error: 'x' } } }));
    expect(screen.getByTestId('node-t')).toHaveAttribute('data-status', 'idle');
  });

  it('shows validation errors on the node they name', () => {
    renderGraph(GRAPH);
    act(() =>
      validationStore.set({
        tabId: TAB,
        report: null,
        error: null,
        byNode: {
          l: [{ code: 'missing_required_input', severity: 'error', message: "Missing required input 'tensor' on node l (Linear)", node_id: 'l', edge_id: null, port: 'tensor', param: null, draft: false }],
        },
      }),
    );
    expect(screen.getByTestId('node-error-l')).toHaveTextContent("Missing required input 'tensor'");
    expect(screen.queryByTestId('node-error-t')).toBeNull();
  });

  it('keeps nodes of unknown types with the ports their edges use', () => {
    renderGraph({
      nodes: [{ id: 'x', type: 'gone:Thing' }, { id: 'p', type: 'Print' }],
      edges: [{ id: 'e', source: 'x', sourceHandle: 'out', target: 'p', targetHandle: 'value' }],
    });
    expect(screen.getByTestId('node-x')).toHaveTextContent('Unknown node type');
    expect(handle('x', 'out', 'source')).not.toBeNull();
  });

  it('offers the inspector on a selected node whose outputs were recorded', () => {
    renderGraph(GRAPH, ['t']);
    expect(screen.queryByTestId('inspector-open')).toBeNull();
    act(() => runController.run.set({ ...beginRun(IDLE_RUN, 'r1', TAB, true), phase: 'completed', nodes: { t: { status: 'completed' }, p: { status: 'completed' } } }));
    const button = screen.getByTestId('inspector-open');
    act(() => button.click());
    expect(opened).toEqual(['t']);
  });
});
