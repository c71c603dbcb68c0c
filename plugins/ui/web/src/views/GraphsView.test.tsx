import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EditorBridgeContext } from '../editor/bridge';
import { fakeBridge } from './common/fakeBridge';
import { apiError, json, stubFetch } from './common/fetchStub';
import { GraphsView } from './GraphsView';

afterEach(() => vi.unstubAllGlobals());

const graph = { name: 'draft', nodes: [{ id: 'n1', type: 'ReLU' }], edges: [] };

describe('GraphsView', () => {
  it('saves the current graph under the typed name and refreshes the list', async () => {
    const saved: string[] = [];
    const server = stubFetch([
      ['GET', '/api/graph/list', () => json(saved.map((name) => ({ name, file: name, modified: '2026-01-01T00:00:00.000Z', nodes: 1, edges: 0, error: null })))],
      [
        'POST',
        '/api/graph/save',
        ({ init }) => {
          const body = JSON.parse(String(init.body));
          saved.push(body.name);
          return json({ message: 'Graph saved', name: body.name, file: body.name, path: '/x', modified: '2026-01-01T00:00:00.000Z' });
        },
      ],
      ['GET', '/api/graph/load/My%20Net', () => json({ ...graph, name: 'My Net' })],
    ]);
    const bridge = fakeBridge({ graph, name: 'draft' });
    render(
      <EditorBridgeContext.Provider value={bridge}>
        <GraphsView />
      </EditorBridgeContext.Provider>,
    );
    const input = screen.getByTestId('graph-save-name');
    expect(input).toHaveValue('draft');
    await userEvent.clear(input);
    await userEvent.type(input, 'My Net');
    await userEvent.click(screen.getByTestId('graph-save'));

    const item = await screen.findByTestId('graph-list-item-My Net');
    expect(item).toHaveTextContent('1 nodes');
    expect(JSON.parse(String(server.of('POST', '/api/graph/save')[0].init.body))).toEqual({ ...graph, name: 'My Net' });

    await userEvent.click(screen.getByTestId('graph-load-My Net'));
    expect(bridge.openGraph).toHaveBeenCalledWith({ ...graph, name: 'My Net' }, 'My Net');
  });

  it('shows the server message when the name is refused', async () => {
    stubFetch([
      ['GET', '/api/graph/list', () => json([])],
      ['POST', '/api/graph/save', () => apiError(400, 'invalid_name', "Invalid name 'a/b': contains '/'")],
    ]);
    render(
      <EditorBridgeContext.Provider value={fakeBridge({ graph })}>
        <GraphsView />
      </EditorBridgeContext.Provider>,
    );
    await userEvent.clear(screen.getByTestId('graph-save-name'));
    await userEvent.type(screen.getByTestId('graph-save-name'), 'a/b');
    await userEvent.click(screen.getByTestId('graph-save'));
    expect(await screen.findByTestId('graph-error')).toHaveTextContent("Invalid name 'a/b': contains '/'");
  });

  it('imports a graph file into the editor and rejects a file that is not a graph', async () => {
    stubFetch([['GET', '/api/graph/list', () => json([])]]);
    const bridge = fakeBridge();
    render(
      <EditorBridgeContext.Provider value={bridge}>
        <GraphsView />
      </EditorBridgeContext.Provider>,
    );
    const input = screen.getByTestId('graph-import-input');
    await userEvent.upload(input, new File([JSON.stringify({ nodes: [], edges: [] })], 'mine.json', { type: 'application/json' }));
    expect(bridge.openGraph).toHaveBeenCalledWith({ nodes: [], edges: [] }, 'mine');

    await userEvent.upload(input, new File(['{"nodes": 3}'], 'bad.json', { type: 'application/json' }));
    expect(await screen.findByTestId('graph-error')).toHaveTextContent('bad.json is not a graph');
    expect(bridge.openGraph).toHaveBeenCalledTimes(1);
  });
});
