import { describe, expect, it } from 'vitest';
import { graphToDoc, docToGraph } from '../graph/serialize';
import { addNode, connect, copySelection, deleteSelection, paste, selectAll, setParam } from './docOps';
import { canRedo, canUndo, checkpoint, commit, createHistory, HISTORY_LIMIT, redo, replace, undo } from './history';
import { activeTab, addTab, checkpointDoc, closeTab, initialWorkspace, openGraphTab, redoDoc, undoDoc, updateDoc } from './workspace';
import { TRIGGER_TARGET } from '../graph/flow';

describe('history', () => {
  it('undoes and redoes commits in order', () => {
    let h = createHistory(1);
    h = commit(h, 2);
    h = commit(h, 3);
    expect(h.present).toBe(3);
    h = undo(h);
    expect(h.present).toBe(2);
    h = undo(h);
    expect(h.present).toBe(1);
    expect(canUndo(h)).toBe(false);
    h = redo(h);
    expect(h.present).toBe(2);
    expect(canRedo(h)).toBe(true);
  });

  it('drops the redo branch on a new commit', () => {
    let h = commit(commit(createHistory('a'), 'b'), 'c');
    h = undo(h);
    h = commit(h, 'd');
    expect(canRedo(h)).toBe(false);
    expect(undo(h).present).toBe('b');
  });

  it('keeps transient replacements out of the history, and a checkpoint makes a drag one step', () => {
    let h = createHistory({ x: 0 });
    h = checkpoint(h);
    h = replace(h, { x: 10 });
    h = replace(h, { x: 20 });
    h = replace(h, { x: 30 });
    expect(h.past).toHaveLength(1);
    expect(undo(h).present).toEqual({ x: 0 });
  });

  it('is bounded', () => {
    let h = createHistory(0);
    for (let i = 1; i <= HISTORY_LIMIT + 25; i += 1) h = commit(h, i);
    expect(h.past).toHaveLength(HISTORY_LIMIT);
    expect(h.past[0]).toBe(25);
  });

  it('ignores undo and redo with nothing to do', () => {
    const h = createHistory(1);
    expect(undo(h)).toBe(h);
    expect(redo(h)).toBe(h);
  });
});

describe('editing a tab', () => {
  it('undoes node additions, param edits and deletions one step at a time', () => {
    let ws = initialWorkspace();
    const id = ws.activeId;
    let printId = '';
    ws = updateDoc(ws, id, (d) => {
      const r = addNode(d, 'Print', { x: 0, y: 0 }, { label: '' });
      printId = r.id;
      return r.doc;
    }, 'commit');
    expect(printId).toBe('Print_1');
    ws = updateDoc(ws, id, (d) => setParam(d, printId, 'label', 'out'), 'commit');
    ws = updateDoc(ws, id, deleteSelection, 'commit');
    expect(activeTab(ws).history.present.nodes).toHaveLength(0);

    ws = undoDoc(ws, id);
    expect(activeTab(ws).history.present.nodes[0]?.data.params.label).toBe('out');
    ws = undoDoc(ws, id);
    expect(activeTab(ws).history.present.nodes[0]?.data.params.label).toBe('');
    ws = undoDoc(ws, id);
    expect(activeTab(ws).history.present.nodes).toHaveLength(0);
    ws = redoDoc(redoDoc(ws, id), id);
    expect(activeTab(ws).history.present.nodes[0]?.data.params.label).toBe('out');
  });

  it('makes a whole drag (checkpoint + many moves) a single undo step', () => {
    let ws = initialWorkspace();
    const id = ws.activeId;
    ws = updateDoc(ws, id, (d) => addNode(d, 'Print', { x: 0, y: 0 }, {}).doc, 'commit');
    ws = checkpointDoc(ws, id);
    for (let x = 1; x <= 20; x += 1) {
      ws = updateDoc(ws, id, (d) => ({ ...d, nodes: d.nodes.map((n) => ({ ...n, position: { x, y: 0 } })) }), 'replace');
    }
    expect(activeTab(ws).history.present.nodes[0]?.position.x).toBe(20);
    ws = undoDoc(ws, id);
    expect(activeTab(ws).history.present.nodes[0]?.position.x).toBe(0);
  });

  it('keeps a separate history per tab', () => {
    let ws = initialWorkspace();
    const first = ws.activeId;
    ws = updateDoc(ws, first, (d) => addNode(d, 'Print', { x: 0, y: 0 }, {}).doc, 'commit');
    ws = addTab(ws);
    const second = ws.activeId;
    expect(second).not.toBe(first);
    ws = undoDoc(ws, second);
    expect(ws.tabs.find((t) => t.id === first)?.history.present.nodes).toHaveLength(1);
    ws = closeTab(ws, second);
    expect(ws.activeId).toBe(first);
  });

  it('opens a graph in the pristine tab instead of adding another', () => {
    const ws = openGraphTab(initialWorkspace(), { nodes: [{ id: 'a', type: 'Print' }], edges: [] }, 'demo');
    expect(ws.tabs).toHaveLength(1);
    expect(activeTab(ws).title).toBe('demo');
    const again = openGraphTab(ws, { nodes: [], edges: [] }, 'other');
    expect(again.tabs).toHaveLength(2);
  });
});

describe('document operations', () => {
  const base = () =>
    graphToDoc({
      nodes: [
        { id: 's', type: 'Start', position: { x: 0, y: 0 } },
        { id: 't', type: 'TensorInput', position: { x: 100, y: 0 } },
        { id: 'p', type: 'Print', position: { x: 200, y: 0 } },
      ],
      edges: [],
    });

  it('creates unique type-based ids', () => {
    let doc = base();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const r = addNode(doc, 'Print', { x: 0, y: 0 }, {});
      doc = r.doc;
      ids.push(r.id);
    }
    expect(ids).toEqual(['Print_1', 'Print_2', 'Print_3']);
    expect(addNode(doc, 'preset:Tiny Head', { x: 0, y: 0 }, {}).id).toBe('Tiny_Head_1');
    expect(addNode(doc, 'geo:KNN', { x: 0, y: 0 }, {}).id).toBe('KNN_1');
  });

  it('replaces the data edge already feeding an input', () => {
    let doc = connect(base(), { source: 't', sourceHandle: 'tensor', target: 'p', targetHandle: 'value' }, 'data');
    doc = connect(doc, { source: 's', sourceHandle: 'trigger', target: 't', targetHandle: TRIGGER_TARGET }, 'trigger');
    doc = connect(doc, { source: 'p', sourceHandle: 'value', target: 'p', targetHandle: 'value' }, 'data');
    const edges = docToGraph(doc).edges;
    expect(edges).toHaveLength(2);
    expect(edges.find((e) => e.type === 'trigger')).toMatchObject({ source: 's', target: 't', sourceHandle: 'trigger', targetHandle: '' });
    expect(edges.find((e) => e.type === 'data')).toMatchObject({ source: 'p', target: 'p' });
  });

  it('deletes selected nodes together with their edges', () => {
    let doc = connect(base(), { source: 't', sourceHandle: 'tensor', target: 'p', targetHandle: 'value' }, 'data');
    doc = { ...doc, nodes: doc.nodes.map((n) => (n.id === 't' ? { ...n, selected: true } : n)) };
    doc = deleteSelection(doc);
    expect(doc.nodes.map((n) => n.id)).toEqual(['s', 'p']);
    expect(doc.edges).toHaveLength(0);
  });

  it('pastes copies with fresh ids, internal edges remapped, as the new selection', () => {
    let doc = connect(base(), { source: 't', sourceHandle: 'tensor', target: 'p', targetHandle: 'value' }, 'data');
    doc = selectAll(doc);
    const payload = copySelection(doc);
    if (!payload) throw new Error('nothing copied');
    doc = paste(doc, payload, { x: 40, y: 40 });
    const ids = doc.nodes.map((n) => n.id);
    expect(new Set(ids).size).toBe(6);
    const pasted = doc.nodes.filter((n) => n.selected);
    expect(pasted.map((n) => n.id)).toEqual(['Start_1', 'TensorInput_1', 'Print_1']);
    expect(pasted[1]?.position).toEqual({ x: 140, y: 40 });
    const newEdge = doc.edges.find((e) => e.selected);
    expect(newEdge).toMatchObject({ source: 'TensorInput_1', target: 'Print_1' });
  });
});
