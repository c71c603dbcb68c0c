import { describe, expect, it } from 'vitest';
import type { Connection } from '@xyflow/react';
import { buildDefinitions, resolveDefinition } from '../defs/definitions';
import { ALL } from '../test/fixtures';
import { canConnect, portColour } from './compat';
import { TRIGGER_TARGET, type FlowDoc } from './flow';
import { connectionKind, nodePorts, type PortLookup } from './ports';
import { graphToDoc } from './serialize';

describe('canConnect (engine.md §2.2)', () => {
  const types = ['TENSOR', 'MODEL', 'DATASET', 'DATALOADER', 'OPTIMIZER', 'LOSS_FN', 'SCALAR', 'STRING', 'IMAGE', 'LIST', 'ANY', 'TRIGGER'];

  it('matches the matrix for every built-in pair', () => {
    for (const s of types) {
      for (const t of types) {
        let expected: boolean;
        if (s === 'TRIGGER' || t === 'TRIGGER') expected = s === 'TRIGGER' && t === 'TRIGGER';
        else expected = s === 'ANY' || t === 'ANY' || s === t || (s === 'IMAGE' && t === 'TENSOR');
        expect(canConnect(s, t), `${s} -> ${t}`).toBe(expected);
      }
    }
  });

  it('lets IMAGE feed TENSOR but not the other way round', () => {
    expect(canConnect('IMAGE', 'TENSOR')).toBe(true);
    expect(canConnect('TENSOR', 'IMAGE')).toBe(false);
  });

  it('treats pack types as compatible only with themselves and ANY', () => {
    expect(canConnect('mypack:MESH', 'mypack:MESH')).toBe(true);
    expect(canConnect('mypack:MESH', 'ANY')).toBe(true);
    expect(canConnect('AUDIO', 'mypack:MESH')).toBe(false);
    expect(canConnect('AUDIO', 'TENSOR')).toBe(false);
    expect(canConnect('ANY', 'TRIGGER')).toBe(false);
  });

  it('gives pack types a stable colour', () => {
    expect(portColour('mypack:MESH')).toBe(portColour('mypack:MESH'));
    expect(portColour('TENSOR')).not.toBe(portColour('MODEL'));
  });
});

describe('connectionKind on a canvas', () => {
  const defs = buildDefinitions(ALL, []);
  const doc: FlowDoc = graphToDoc({
    nodes: [
      { id: 's', type: 'Start' },
      { id: 't', type: 'TensorInput' },
      { id: 'p', type: 'Print' },
      { id: 'l', type: 'Linear' },
      { id: 'm', type: 'ModelSink' },
      { id: 'i', type: 'ImageSource' },
    ],
    edges: [],
  });
  const ports: PortLookup = (node) => nodePorts(node, resolveDefinition(defs, node.data.nodeType), undefined, { inputs: [], outputs: [] });
  const conn = (source: string, sourceHandle: string, target: string, targetHandle: string): Connection => ({ source, sourceHandle, target, targetHandle });

  it('accepts compatible data connections', () => {
    expect(connectionKind(conn('t', 'tensor', 'l', 'tensor'), doc, ports)).toBe('data');
    expect(connectionKind(conn('t', 'tensor', 'p', 'value'), doc, ports)).toBe('data');
    expect(connectionKind(conn('p', 'value', 'm', 'model'), doc, ports)).toBe('data');
    expect(connectionKind(conn('i', 'image', 'l', 'tensor'), doc, ports)).toBe('data');
  });

  it('refuses mismatched types, unknown ports and self-loops', () => {
    expect(connectionKind(conn('t', 'tensor', 'm', 'model'), doc, ports)).toBeNull();
    expect(connectionKind(conn('t', 'nope', 'l', 'tensor'), doc, ports)).toBeNull();
    expect(connectionKind(conn('l', 'tensor', 'l', 'tensor'), doc, ports)).toBeNull();
  });

  it('makes Start triggers into trigger edges and keeps them off data inputs', () => {
    expect(connectionKind(conn('s', 'trigger', 't', TRIGGER_TARGET), doc, ports)).toBe('trigger');
    expect(connectionKind(conn('s', 'trigger', 'p', 'value'), doc, ports)).toBeNull();
    expect(connectionKind(conn('t', 'tensor', 'p', TRIGGER_TARGET), doc, ports)).toBeNull();
  });

  it('gives Start no trigger input', () => {
    expect(connectionKind(conn('s', 'trigger', 's', TRIGGER_TARGET), doc, ports)).toBeNull();
    const start = doc.nodes.find((n) => n.id === 's');
    expect(start && ports(start).triggerInput).toBe(false);
    const print = doc.nodes.find((n) => n.id === 'p');
    expect(print && ports(print).triggerInput).toBe(true);
  });

  it('adds ports that edges name but the definition lacks, so those edges still render', () => {
    const node = doc.nodes.find((n) => n.id === 'p');
    if (!node) throw new Error('fixture');
    const result = nodePorts(node, resolveDefinition(defs, 'Print'), undefined, { inputs: ['legacy', TRIGGER_TARGET], outputs: ['extra'] });
    expect(result.inputs.map((p) => p.name)).toEqual(['value', 'legacy']);
    expect(result.outputs.map((p) => p.name)).toEqual(['value', 'extra']);
  });
});

describe('resolveDefinition', () => {
  it('resolves a bare name to its single plugin-qualified key', () => {
    const knn = { ...ALL[0], node_name: 'geo:KNN' } as (typeof ALL)[number];
    const defs = buildDefinitions([...ALL, knn], []);
    expect(resolveDefinition(defs, 'KNN')?.node_name).toBe('geo:KNN');
    const twice = buildDefinitions([...ALL, knn, { ...knn, node_name: 'other:KNN' }], []);
    expect(resolveDefinition(twice, 'KNN')).toBeUndefined();
  });
});
