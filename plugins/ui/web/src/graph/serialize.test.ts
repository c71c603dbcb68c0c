import { describe, expect, it } from 'vitest';
import type { Graph } from '../api/types';
import { TRIGGER_TARGET } from './flow';
import { docToGraph, graphFromJsonText, graphToDoc } from './serialize';

const GRAPH: Graph = {
  format_version: 1,
  name: 'scaled',
  description: 'round trip',
  layout_missing: true,
  customTop: { nested: [1, 2, { deep: true }] },
  nodeloom: { packs: { nodeloom: '0.1.0' }, extra: 'kept' },
  nodes: [
    { id: 'start', type: 'Start', position: { x: 0, y: 0 }, data: { params: {} } },
    {
      id: 'x',
      type: 'TensorInput',
      position: { x: 180.5, y: -20 },
      width: 180,
      selectedByCodefy: false,
      data: { params: { shape: '2,2', values: [[1, 2], [3, 4]], alpha: 3 }, label: 'my input', uiColour: '#fff' },
    },
    { id: 'blk', type: 'preset:Scale', position: { x: 380, y: 0 }, data: { params: {}, internalParams: { scale: { scalar: 0.5 } } } },
    { id: 'bare', type: 'Print' },
    {
      id: 'memo',
      type: 'note',
      position: { x: 10, y: -140 },
      data: { noteKind: 'text', noteContent: 'hi', noteColor: '#c8e6c9', boundToNodeId: 'blk', boundOffset: { x: 0, y: -140 }, noteWidth: 200, noteHeight: 70, future: 1 },
    },
  ],
  edges: [
    { id: 't0', source: 'start', sourceHandle: 'trigger', target: 'x', targetHandle: '', type: 'trigger', animated: true },
    { id: 'd1', source: 'x', sourceHandle: 'tensor', target: 'blk', targetHandle: 'x' },
    { source: 'blk', sourceHandle: 'probs', target: 'bare', targetHandle: 'value', type: 'data', label: 'no id' },
    { id: 'dup', source: 'x', target: 'bare', sourceHandle: 'tensor', targetHandle: 'value' },
    { id: 'dup', source: 'start', target: 'blk', sourceHandle: 'trigger', type: 'trigger' },
  ],
  presets: [{ preset_name: 'Scale', category: 'Custom', description: '', tags: [], nodes: [], edges: [], exposed_inputs: [], exposed_outputs: [], exposed_params: [] }],
  segmentGroups: [{ id: 'seg-1', headNodeId: 'x', tailNodeId: 'blk', colour: 'red' }],
};

describe('graph JSON round trip', () => {
  it('gives back an unchanged graph exactly, unknown keys at every level included', () => {
    const copy = JSON.parse(JSON.stringify(GRAPH)) as Graph;
    expect(docToGraph(graphToDoc(copy))).toEqual(GRAPH);
  });

  it('maps trigger edges onto the trigger handle and back to ""', () => {
    const doc = graphToDoc(GRAPH);
    const trigger = doc.edges.find((e) => e.id === 't0');
    expect(trigger?.targetHandle).toBe(TRIGGER_TARGET);
    expect(trigger?.data?.kind).toBe('trigger');
    const back = docToGraph(doc).edges.find((e) => e.id === 't0');
    expect(back?.targetHandle).toBe('');
  });

  it('gives edges without ids or with duplicate ids unique canvas ids, and restores the originals', () => {
    const doc = graphToDoc(GRAPH);
    const ids = doc.edges.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const out = docToGraph(doc);
    expect('id' in (out.edges[2] as object)).toBe(false);
    expect(out.edges[3]?.id).toBe('dup');
    expect(out.edges[4]?.id).toBe('dup');
  });

  it('keeps edits and the untouched keys side by side', () => {
    const doc = graphToDoc(GRAPH);
    const x = doc.nodes.find((n) => n.id === 'x');
    if (!x) throw new Error('fixture');
    x.data.params = { ...x.data.params, shape: '3,3' };
    x.position = { x: 5, y: 6 };
    const node = docToGraph(doc).nodes.find((n) => n.id === 'x');
    expect(node).toEqual({
      id: 'x',
      type: 'TensorInput',
      position: { x: 5, y: 6 },
      width: 180,
      selectedByCodefy: false,
      data: { params: { shape: '3,3', values: [[1, 2], [3, 4]], alpha: 3 }, label: 'my input', uiColour: '#fff' },
    });
  });

  it('renders notes as note nodes sized from their data', () => {
    const note = graphToDoc(GRAPH).nodes.find((n) => n.id === 'memo');
    expect(note?.type).toBe('note');
    expect(note?.style).toEqual({ width: 200, height: 70 });
  });

  it('rejects files that are not graphs', () => {
    expect(() => graphFromJsonText('[]')).toThrow(/nodes/);
    expect(() => graphFromJsonText('{"nodes": []}')).toThrow(/edges/);
    expect(() => graphFromJsonText('not json')).toThrow();
    expect(graphFromJsonText('{"nodes": [], "edges": [], "x": 1}').x).toBe(1);
  });
});
