import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NodeDefinition, PresetDefinition } from '../api/types';
import { EditorBridgeContext } from '../editor/bridge';
import { fakeBridge } from './common/fakeBridge';
import { apiError, json, stubFetch } from './common/fetchStub';
import { PresetsView } from './presets/PresetsView';

afterEach(() => vi.unstubAllGlobals());

const head: PresetDefinition = {
  preset_name: 'Tiny Head',
  category: 'Custom',
  description: 'A head',
  tags: [],
  source: 'user',
  available: true,
  error: null,
  nodes: [{ id: 'node_0', type: 'Linear', params: {} }],
  edges: [],
  exposed_inputs: [{ name: 'node_0_tensor', internal_node: 'node_0', internal_port: 'tensor', data_type: 'TENSOR', description: '' }],
  exposed_outputs: [{ name: 'out', internal_node: 'node_0', internal_port: 'tensor', data_type: 'TENSOR', description: '' }],
  exposed_params: [],
};

const def = (name: string): NodeDefinition => ({
  node_name: name,
  category: 'x',
  description: '',
  provider: 'builtin',
  version: '0',
  cacheable: true,
  available: true,
  unavailable_reason: null,
  flags: { deterministic: true, random: false, stateful: false, display_only: false, dynamic_outputs: false, exportable: true },
  inputs: [{ name: 'tensor', data_type: 'TENSOR', description: '', optional: false }],
  outputs: [{ name: 'tensor', data_type: 'TENSOR', description: '', optional: false }],
  params: [],
});

const selection = {
  nodes: [
    { id: 'a', type: 'Linear', data: { params: {} } },
    { id: 'b', type: 'ReLU', data: { params: {} } },
  ],
  edges: [{ id: 'e', source: 'a', sourceHandle: 'tensor', target: 'b', targetHandle: 'tensor' }],
};

function setup(createReply: () => Response) {
  const presets = [head];
  const server = stubFetch([
    ['GET', '/api/presets', () => json(presets)],
    [
      'POST',
      '/api/presets/create',
      () => {
        const reply = createReply();
        if (reply.ok) presets.push({ ...head, preset_name: 'Pair' });
        return reply;
      },
    ],
  ]);
  const bridge = fakeBridge({ selection, graph: { nodes: selection.nodes, edges: selection.edges }, defs: [def('Linear'), def('ReLU')] });
  render(
    <EditorBridgeContext.Provider value={bridge}>
      <PresetsView />
    </EditorBridgeContext.Provider>,
  );
  return { server, bridge };
}

describe('PresetsView', () => {
  it('lists presets with their ports and inserts one', async () => {
    const { bridge } = setup(() => json(head));
    const item = await screen.findByTestId('preset-item-Tiny Head');
    expect(item).toHaveTextContent('in: node_0_tensor: TENSOR');
    expect(item).toHaveTextContent('out: out: TENSOR');
    await userEvent.click(screen.getByTestId('preset-insert-Tiny Head'));
    expect(bridge.insertPreset).toHaveBeenCalledWith('Tiny Head');
  });

  it('creates a preset from the selection with automatic ports, then refreshes', async () => {
    const { server } = setup(() => json({ ...head, preset_name: 'Pair' }));
    await screen.findByTestId('preset-item-Tiny Head');
    await userEvent.type(screen.getByTestId('preset-create-name'), 'Pair');
    await userEvent.click(screen.getByTestId('preset-create'));
    expect(await screen.findByTestId('preset-item-Pair')).toBeInTheDocument();
    const body = JSON.parse(String(server.of('POST', '/api/presets/create')[0].init.body));
    expect(body).toMatchObject({ name: 'Pair', category: 'Custom', tags: [], exposed_inputs: null, exposed_outputs: null, overwrite: false });
    expect(body.nodes.map((n: { id: string }) => n.id)).toEqual(['a', 'b']);
    expect(body.edges).toHaveLength(1);
  });

  it('sends the chosen exposed ports and shows a 409 inline', async () => {
    const { server } = setup(() => apiError(409, 'preset_exists', "Preset 'Pair' already exists"));
    await screen.findByTestId('preset-item-Tiny Head');
    await userEvent.type(screen.getByTestId('preset-create-name'), 'Pair');
    await userEvent.click(screen.getByLabelText(/Choose exposed ports/));
    // Automatic choice: a.tensor in, b.tensor out; b.tensor in is fed inside and cannot be exposed.
    const boxes = screen.getAllByRole('checkbox').filter((b) => b.closest('ul'));
    expect(boxes.map((b) => (b as HTMLInputElement).checked)).toEqual([true, false, false, true]);
    expect(boxes[2]).toBeDisabled();
    await userEvent.click(boxes[1]); // also expose a.tensor as an output
    await userEvent.click(screen.getByTestId('preset-create'));
    expect(await screen.findByTestId('preset-create-error')).toHaveTextContent("Preset 'Pair' already exists");
    const body = JSON.parse(String(server.of('POST', '/api/presets/create')[0].init.body));
    expect(body.exposed_inputs).toEqual([{ node: 'a', port: 'tensor' }]);
    expect(body.exposed_outputs).toEqual([
      { node: 'a', port: 'tensor' },
      { node: 'b', port: 'tensor' },
    ]);
  });
});
