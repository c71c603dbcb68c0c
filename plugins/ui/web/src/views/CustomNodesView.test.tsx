import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { apiError, json, stubFetch } from './common/fetchStub';
import { CustomNodesView, errorLine } from './CustomNodesView';

afterEach(() => vi.unstubAllGlobals());

describe('CustomNodesView', () => {
  it('reads the line number out of a load error', () => {
    expect(errorLine("NameError: name 'torhc' is not defined (broken.py, line 7)")).toBe(7);
    expect(errorLine('ImportError: nope')).toBeNull();
  });

  it('lists files with nodes and errors, toggles and deletes with a refresh after each', async () => {
    let files = [
      { filename: 'good.py', enabled: true, nodes: ['Doubler'], error: null },
      { filename: 'broken.py', enabled: true, nodes: [], error: "NameError: name 'torhc' is not defined (broken.py, line 7)" },
    ];
    const server = stubFetch([
      ['GET', '/api/custom-nodes', () => json(files)],
      [
        'POST',
        '/api/custom-nodes/toggle',
        () => {
          files = [{ ...files[0], filename: 'good.py.disabled', enabled: false, nodes: [] }, files[1]];
          return json({ filename: 'good.py.disabled', enabled: false, generation: 3 });
        },
      ],
      ['DELETE', '/api/custom-nodes/broken.py', () => apiError(404, 'file_not_found', 'File not found: broken.py')],
    ]);
    render(<CustomNodesView />);
    expect(await screen.findByTestId('custom-item-good.py')).toHaveTextContent('Doubler');
    expect(screen.getByTestId('custom-error-broken.py')).toHaveTextContent('Line 7:');

    await userEvent.click(screen.getByTestId('custom-toggle-good.py'));
    expect(await screen.findByTestId('custom-item-good.py.disabled')).toHaveTextContent('disabled');
    expect(JSON.parse(String(server.of('POST', '/api/custom-nodes/toggle')[0].init.body))).toEqual({ filename: 'good.py', enabled: false });

    await userEvent.click(screen.getByTestId('custom-delete-broken.py'));
    expect(await screen.findByTestId('custom-action-error')).toHaveTextContent('File not found: broken.py');
    expect(server.of('GET', '/api/custom-nodes').length).toBeGreaterThanOrEqual(3);
  });

  it('shows the line of a syntax error on upload', async () => {
    const server = stubFetch([
      ['GET', '/api/custom-nodes', () => json([])],
      [
        'POST',
        '/api/custom-nodes/upload',
        () => apiError(400, 'syntax_error', 'Syntax error in bad.py line 3: invalid syntax', { line: 3, column: 5 }),
      ],
    ]);
    render(<CustomNodesView />);
    await userEvent.upload(screen.getByTestId('custom-upload-input'), new File(['def (:'], 'bad.py', { type: 'text/x-python' }));
    expect(await screen.findByTestId('custom-action-error')).toHaveTextContent('Syntax error in bad.py line 3');
    expect(screen.getByText('Line 3')).toBeInTheDocument();
    const form = server.of('POST', '/api/custom-nodes/upload')[0].init.body as FormData;
    expect((form.get('file') as File).name).toBe('bad.py');
  });
});
