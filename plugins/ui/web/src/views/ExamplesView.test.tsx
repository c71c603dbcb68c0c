import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EditorBridgeContext } from '../editor/bridge';
import { fakeBridge } from './common/fakeBridge';
import { json, stubFetch } from './common/fetchStub';
import { ExamplesView } from './ExamplesView';

afterEach(() => vi.unstubAllGlobals());

describe('ExamplesView', () => {
  it('lists examples by category and opens one in the editor', async () => {
    const graph = { name: 'XOR MLP', nodes: [], edges: [] };
    const server = stubFetch([
      [
        'GET',
        '/api/examples/list',
        () =>
          json([
            { name: 'XOR MLP', description: 'A tiny MLP learns XOR.', category: 'Basics', path: 'Basics/XOR-MLP', source: 'builtin', node_count: 7, edge_count: 8 },
            { name: 'Map', description: '', category: 'Geo', path: 'plugin:geo/Geo/Map', source: 'plugin:geo', node_count: 2, edge_count: 1 },
          ]),
      ],
      ['GET', '/api/examples/load', () => json(graph)],
    ]);
    const bridge = fakeBridge();
    render(
      <EditorBridgeContext.Provider value={bridge}>
        <ExamplesView />
      </EditorBridgeContext.Provider>,
    );
    expect(await screen.findByTestId('example-item-Basics/XOR-MLP')).toHaveTextContent('7 nodes · 8 edges');
    expect(screen.getByTestId('example-item-plugin:geo/Geo/Map')).toHaveTextContent('plugin:geo');
    await userEvent.click(screen.getByTestId('example-load-plugin:geo/Geo/Map'));
    expect(bridge.openGraph).toHaveBeenCalledWith(graph, 'Map');
    expect(server.of('GET', '/api/examples/load')[0].url).toBe('/api/examples/load?path=plugin%3Ageo%2FGeo%2FMap');
  });
});
