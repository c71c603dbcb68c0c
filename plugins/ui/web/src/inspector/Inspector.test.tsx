import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Graph } from '../api/types';
import { EditorBridgeContext, type EditorBridge } from '../editor/bridge';
import { apiError, json, stubCanvas, stubFetch } from '../views/common/fetchStub';
import { Inspector } from './Inspector';

const RUN = '/api/execution/outputs/r1';

const matrix = {
  run_id: 'r1',
  node_id: 'n1',
  port: 'tensor',
  type: 'tensor',
  dtype: 'torch.float32',
  full_shape: [2, 3],
  slice: '',
  sliced_shape: [2, 3],
  values: [
    [-1.5, 0, 2],
    [3, null, 4.25],
  ],
  truncated: false,
  min: -1.5,
  max: 4.25,
  mean: 1.55,
  nan_count: 1,
  inf_count: 0,
};

let painted: ReturnType<typeof stubCanvas>;
beforeEach(() => {
  painted = stubCanvas();
});
afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('Inspector', () => {
  it('asks for recorded outputs when there is no run', () => {
    stubFetch([]);
    render(<Inspector runId={null} nodeId="n1" />);
    expect(screen.getByTestId('inspector-hint')).toHaveTextContent(/Record outputs/);
  });

  it('explains a run that is no longer stored', async () => {
    stubFetch([['GET', RUN, () => apiError(404, 'run_not_found', "run 'r1' not found")]]);
    render(<Inspector runId="r1" nodeId="n1" />);
    expect(await screen.findByTestId('inspector-hint')).toHaveTextContent(/gone.*Record outputs/);
  });

  it('shows shape, dtype, stats, a grid and a heatmap for a 2-d output', async () => {
    const server = stubFetch([
      ['GET', RUN, () => json([{ node_id: 'n1', port: 'tensor', type: 'tensor', full_shape: [2, 3] }])],
      ['GET', `${RUN}/n1/tensor`, () => json(matrix)],
    ]);
    render(<Inspector runId="r1" nodeId="n1" />);

    expect(await screen.findByTestId('tensor-shape')).toHaveTextContent('shape [2, 3]');
    expect(screen.getByTestId('tensor-dtype')).toHaveTextContent('torch.float32');
    const stats = screen.getByTestId('tensor-stats');
    expect(stats).toHaveTextContent('min -1.5');
    expect(stats).toHaveTextContent('max 4.25');
    expect(stats).toHaveTextContent('mean 1.55');
    expect(stats).toHaveTextContent('NaN 1');
    // std over the five finite values shown: population std of [-1.5, 0, 2, 3, 4.25].
    expect(stats).toHaveTextContent('std 2.064');

    const cells = within(screen.getByTestId('tensor-grid')).getAllByRole('cell');
    expect(cells.map((c) => c.textContent)).toEqual(['-1.5', '0', '2', '3', 'NaN/Inf', '4.25']);

    expect(screen.getByTestId('tensor-heatmap')).toBeInTheDocument();
    // One painted cell per element; signed data uses the diverging scale: the NaN cell is magenta,
    // the most negative cell blue-ish, the largest red-ish.
    expect(painted).toHaveLength(6);
    expect(painted[4].fill).toBe('rgb(255, 0, 255)');
    const rgb = (s: string) => s.match(/\d+/g)!.map(Number);
    const [r0, , b0] = rgb(painted[0].fill);
    expect(b0).toBeGreaterThan(r0);
    const [r5, , b5] = rgb(painted[5].fill);
    expect(r5).toBeGreaterThan(b5);

    const fetched = server.of('GET', `${RUN}/n1/tensor`);
    expect(fetched[0].url).toContain('max_elements=4096');
    expect(fetched[0].url).not.toContain('slice=');
  });

  it('slices a 3-d tensor down to a matrix and lets the user pick another index', async () => {
    const server = stubFetch([
      ['GET', RUN, () => json([{ node_id: 'n1', port: 'out', type: 'tensor', full_shape: [2, 3, 4] }])],
      [
        'GET',
        `${RUN}/n1/out`,
        ({ url }) => {
          const slice = new URL(url, 'http://x').searchParams.get('slice');
          const base = slice === '1' ? 100 : 0;
          const values = [0, 1, 2].map((r) => [0, 1, 2, 3].map((c) => base + r * 4 + c));
          return json({ ...matrix, port: 'out', dtype: 'torch.int64', full_shape: [2, 3, 4], slice, sliced_shape: [3, 4], values, min: base, max: base + 11, mean: undefined, nan_count: undefined, inf_count: undefined });
        },
      ],
    ]);
    render(<Inspector runId="r1" nodeId="n1" />);
    expect(await screen.findByTestId('tensor-shape')).toHaveTextContent('shape [2, 3, 4] → [3, 4] (slice 0)');
    expect(screen.getByTestId('tensor-heatmap')).toBeInTheDocument();
    expect(server.of('GET', `${RUN}/n1/out`)[0].url).toContain('slice=0');

    const index = screen.getByTestId('slice-index-0');
    await userEvent.clear(index);
    await userEvent.type(index, '1');
    expect(await screen.findByTestId('tensor-shape')).toHaveTextContent('(slice 1)');
    expect(within(screen.getByTestId('tensor-grid')).getAllByRole('cell')[0]).toHaveTextContent('100');
  });

  it('lists inputs from the canvas edges and outputs of the node', async () => {
    const graph: Graph = {
      nodes: [
        { id: 'src', type: 'TensorInput' },
        { id: 'n1', type: 'ReLU' },
      ],
      edges: [{ source: 'src', sourceHandle: 'tensor', target: 'n1', targetHandle: 'tensor' }],
    };
    const bridge = { currentGraph: () => graph } as unknown as EditorBridge;
    const server = stubFetch([
      [
        'GET',
        RUN,
        () =>
          json([
            { node_id: 'src', port: 'tensor', type: 'tensor', full_shape: [2, 3] },
            { node_id: 'n1', port: 'tensor', type: 'tensor', full_shape: [2, 3] },
          ]),
      ],
      ['GET', /\/api\/execution\/outputs\/r1\/(src|n1)\/tensor/, () => json(matrix)],
    ]);
    render(
      <EditorBridgeContext.Provider value={bridge}>
        <Inspector runId="r1" nodeId="n1" />
      </EditorBridgeContext.Provider>,
    );
    await userEvent.click(await screen.findByTestId('inspector-input-tensor'));
    await screen.findByTestId('tensor-grid');
    expect(server.calls.some((c) => c.url.startsWith(`${RUN}/src/tensor`))).toBe(true);
    expect(screen.getByTestId('inspector-port-tensor')).toBeEnabled();
  });

  it('shows step traces and fetches a step tensor', async () => {
    const server = stubFetch([
      ['GET', RUN, () => json([{ node_id: 'att', port: '__step__1__scores', type: 'tensor', full_shape: [2, 3] }])],
      [
        'GET',
        `${RUN}/att/__steps_index`,
        () => json([{ index: 1, name: 'scores', description: 'Scaled dot product', scalars: { d_k: 4 }, tensor_keys: ['scores'] }]),
      ],
      ['GET', `${RUN}/att/__step__1__scores`, () => json({ ...matrix, port: '__step__1__scores' })],
    ]);
    render(<Inspector runId="r1" nodeId="att" />);
    await userEvent.click(screen.getByTestId('inspector-tab-steps'));
    expect(await screen.findByTestId('inspector-step-1')).toHaveTextContent('scores — Scaled dot productd_k = 4');
    await userEvent.click(screen.getByTestId('inspector-step-1-scores'));
    expect(await screen.findByTestId('tensor-shape')).toHaveTextContent('[2, 3]');
    expect(server.of('GET', `${RUN}/att/__step__1__scores`)).toHaveLength(1);
  });

  it('labels gradient health and fetches the gradient tensor', async () => {
    const server = stubFetch([
      ['GET', RUN, () => json([])],
      [
        'GET',
        `${RUN}/lin/__grad_index`,
        () =>
          json([
            { port: 'tensor', kind: 'port', has_grad: true, health: { status: 'healthy', norm: 1.41, mean: 0.25, max: 0.25 } },
            { port: 'layers.0.weight', kind: 'weight', has_grad: true, health: { status: 'vanishing', norm: 1e-9, mean: 1e-10, max: 1e-9 } },
            { port: 'bias', kind: 'weight', has_grad: true, health: { status: 'exploding', norm: 5000, mean: 20, max: 900 } },
          ]),
      ],
      ['GET', /__weight_grad__layers\.0\.weight/, () => json({ ...matrix, port: '__weight_grad__layers.0.weight' })],
    ]);
    render(<Inspector runId="r1" nodeId="lin" />);
    await userEvent.click(screen.getByTestId('inspector-tab-backward'));
    const healthy = await screen.findByTestId('grad-health-tensor');
    expect(healthy).toHaveTextContent('healthy');
    expect(healthy).toHaveStyle({ backgroundColor: 'rgb(46, 158, 91)' });
    expect(screen.getByTestId('grad-health-layers.0.weight')).toHaveTextContent('vanishing');
    expect(screen.getByTestId('grad-health-bias')).toHaveAttribute('data-status', 'exploding');

    await userEvent.click(screen.getByTestId('inspector-grad-layers.0.weight'));
    await screen.findByTestId('tensor-grid');
    const call = server.calls.find((c) => c.url.includes('__weight_grad__'))!;
    expect(call.url.split('?')[0]).toBe(`${RUN}/lin/__weight_grad__layers.0.weight`);
  });

  it('shows a server error inline', async () => {
    stubFetch([
      ['GET', RUN, () => json([{ node_id: 'n1', port: 'tensor', type: 'tensor', full_shape: [2, 3] }])],
      ['GET', `${RUN}/n1/tensor`, () => apiError(400, 'invalid_slice', 'invalid slice: index 5 is out of bounds for dimension 0 with size 2')],
    ]);
    render(<Inspector runId="r1" nodeId="n1" />);
    expect(await screen.findByTestId('inspector-value-error')).toHaveTextContent('index 5 is out of bounds');
  });
});
