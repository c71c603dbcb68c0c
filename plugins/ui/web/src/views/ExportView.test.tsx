import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EditorBridgeContext } from '../editor/bridge';
import { fakeBridge } from './common/fakeBridge';
import { apiError, json, stubFetch } from './common/fetchStub';
import { ExportView } from './ExportView';

afterEach(() => vi.unstubAllGlobals());

describe('ExportView', () => {
  it('shows the script and the export notes', async () => {
    const server = stubFetch([
      [
        'POST',
        '/api/graph/export',
        () =>
          json({
            script: '#!/usr/bin/env python3\nprint("hi")\n',
            mode: 'runner',
            filename: 'demo.py',
            seed: 7,
            omitted_nodes: [{ node_id: 'plot', type: 'Visualize' }],
            unsupported_nodes: [{ node_id: 'x', type: 'Custom', reason: 'no code generator' }],
          }),
      ],
    ]);
    render(
      <EditorBridgeContext.Provider value={fakeBridge({ graph: { nodes: [], edges: [] }, name: 'demo' })}>
        <ExportView />
      </EditorBridgeContext.Provider>,
    );
    await userEvent.clear(screen.getByRole('spinbutton'));
    await userEvent.type(screen.getByRole('spinbutton'), '7');
    await userEvent.click(screen.getByTestId('export-python-button'));
    expect(await screen.findByTestId('export-python-code')).toHaveTextContent('print("hi")');
    expect(screen.getByTestId('export-python-warnings')).toHaveTextContent('Node x (Custom) needs the runner: no code generator');
    expect(screen.getByTestId('export-python-warnings')).toHaveTextContent('Display-only node plot (Visualize)');
    expect(JSON.parse(String(server.of('POST', '/api/graph/export')[0].init.body))).toMatchObject({ name: 'demo', mode: 'auto', seed: 7 });
  });

  it('lists validation errors of an invalid graph', async () => {
    stubFetch([
      [
        'POST',
        '/api/graph/export',
        () => apiError(400, 'invalid_graph', 'Missing input a; Missing input b', { errors: ['Missing input a', 'Missing input b'] }),
      ],
    ]);
    render(
      <EditorBridgeContext.Provider value={fakeBridge()}>
        <ExportView />
      </EditorBridgeContext.Provider>,
    );
    await userEvent.click(screen.getByTestId('export-python-button'));
    const error = await screen.findByTestId('export-error');
    expect(error).toHaveTextContent('Missing input a; Missing input b');
    expect(error.querySelectorAll('li')).toHaveLength(2);
    expect(screen.queryByTestId('export-python-code')).toBeNull();
  });
});
