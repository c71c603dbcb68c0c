import { fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PresetDefinition } from '../../api/types';
import { presetDefinition } from '../../defs/definitions';
import { nodeFromGraph } from '../../graph/serialize';
import { KERNEL, param } from '../../test/fixtures';
import { ParamsPanel } from './ParamsPanel';

beforeEach(() => {
  // The file pickers list server files; an empty listing is enough here.
  vi.stubGlobal('fetch', vi.fn(async () => new Response('[]', { headers: { 'Content-Type': 'application/json' } })));
});

afterEach(() => vi.unstubAllGlobals());

function setup(params: Record<string, unknown> = {}) {
  const onSetParam = vi.fn();
  const onSetInternalParam = vi.fn();
  const node = nodeFromGraph({ id: 'k1', type: 'Conv2dKernel', data: { params } });
  const view = render(<ParamsPanel node={node} definition={KERNEL} preset={undefined} onSetParam={onSetParam} onSetInternalParam={onSetInternalParam} />);
  return { onSetParam, onSetInternalParam, view, node };
}

describe('ParamsPanel', () => {
  it('shows one widget per visible param, by type', () => {
    setup();
    expect(screen.getByTestId('params-panel')).toHaveTextContent('Conv2dKernel');
    expect(screen.getByTestId('param-preset').tagName).toBe('SELECT');
    expect(screen.getByTestId('param-scale')).toHaveAttribute('type', 'number');
    expect(screen.getByTestId('param-normalise')).toHaveAttribute('type', 'checkbox');
    expect(screen.getByTestId('param-api_key')).toHaveAttribute('type', 'password');
    expect(screen.getByTestId('param-checkpoint')).toBeInTheDocument();
    expect(screen.getByTestId('param-picture')).toBeInTheDocument();
    expect(screen.getByTestId('param-audio')).toBeInTheDocument();
  });

  it('hides params whose visible_when does not hold, using defaults for unset siblings', () => {
    setup();
    expect(screen.queryByTestId('param-kernel_size')).toBeNull();
    expect(screen.queryByTestId('param-weights')).toBeNull();
  });

  it('shows them once the sibling has the required value', () => {
    setup({ preset: 'Custom' });
    expect(screen.getByTestId('param-kernel_size')).toHaveValue(3);
    expect(screen.getByTestId('param-weights')).toHaveValue('[[0,1],[1,0]]');
    expect(screen.getByTestId('param-weights-cell-1-0')).toHaveValue(1);
  });

  it('applies in-range numbers at once and refuses out-of-range ones until the field is left', () => {
    const { onSetParam } = setup();
    const scale = screen.getByTestId('param-scale');
    expect(scale).toHaveAttribute('min', '0');
    expect(scale).toHaveAttribute('max', '2');
    expect(scale).toHaveAttribute('step', 'any');
    fireEvent.change(scale, { target: { value: '1.5' } });
    expect(onSetParam).toHaveBeenLastCalledWith('scale', 1.5);
    onSetParam.mockClear();
    fireEvent.change(scale, { target: { value: '20' } });
    expect(onSetParam).not.toHaveBeenCalled();
    expect(screen.getByText('Maximum is 2')).toBeInTheDocument();
    fireEvent.blur(scale);
    expect(onSetParam).toHaveBeenLastCalledWith('scale', 2);
  });

  it('keeps int params whole and within bounds', () => {
    const { onSetParam } = setup({ preset: 'Custom' });
    const size = screen.getByTestId('param-kernel_size');
    expect(size).toHaveAttribute('step', '1');
    fireEvent.change(size, { target: { value: '2.5' } });
    expect(screen.getByText('Must be a whole number')).toBeInTheDocument();
    expect(onSetParam).not.toHaveBeenCalled();
    fireEvent.change(size, { target: { value: '0' } });
    expect(screen.getByText('Minimum is 1')).toBeInTheDocument();
    fireEvent.blur(size);
    expect(onSetParam).toHaveBeenLastCalledWith('kernel_size', 1);
    fireEvent.change(size, { target: { value: '7' } });
    expect(onSetParam).toHaveBeenLastCalledWith('kernel_size', 7);
  });

  it('reports selects, checkboxes and text fields', () => {
    const { onSetParam } = setup();
    fireEvent.change(screen.getByTestId('param-preset'), { target: { value: 'Custom' } });
    expect(onSetParam).toHaveBeenLastCalledWith('preset', 'Custom');
    fireEvent.click(screen.getByTestId('param-normalise'));
    expect(onSetParam).toHaveBeenLastCalledWith('normalise', true);
    const secret = screen.getByTestId('param-api_key');
    fireEvent.change(secret, { target: { value: 'sk-123' } });
    expect(onSetParam).not.toHaveBeenCalledWith('api_key', 'sk-123');
    fireEvent.blur(secret);
    expect(onSetParam).toHaveBeenLastCalledWith('api_key', 'sk-123');
  });

  it('checks tensor grids and writes them on blur', () => {
    const { onSetParam } = setup({ preset: 'Custom' });
    const grid = screen.getByTestId('param-weights');
    fireEvent.change(grid, { target: { value: '[[1, "a"]]' } });
    expect(screen.getByText(/nested list of numbers/)).toBeInTheDocument();
    fireEvent.change(grid, { target: { value: '[[1, 2], [3, 4]]' } });
    fireEvent.blur(grid);
    expect(onSetParam).toHaveBeenLastCalledWith('weights', [[1, 2], [3, 4]]);
    fireEvent.change(grid, { target: { value: '' } });
    fireEvent.blur(grid);
    expect(onSetParam).toHaveBeenLastCalledWith('weights', null);
  });

  it('lists params the node does not declare', () => {
    setup({ alpha: 3 });
    expect(screen.getByTestId('params-panel')).toHaveTextContent('alpha = 3');
  });

  it('edits preset params through internalParams', () => {
    const preset: PresetDefinition = {
      preset_name: 'Tiny Head',
      category: 'Custom',
      description: '',
      tags: [],
      nodes: [{ id: 'node_0', type: 'Linear', params: { out_features: 4 } }],
      edges: [],
      exposed_inputs: [],
      exposed_outputs: [],
      exposed_params: [
        { internal_node: 'node_0', param_name: 'out_features', display_name: 'Linear - out_features', group: 'Linear', param_def: param('out_features', 'int', { default: 10, min_value: 1 }) },
      ],
    };
    const node = nodeFromGraph({ id: 'h', type: 'preset:Tiny Head', data: { params: {}, internalParams: { node_0: { out_features: 8 } } } });
    const onSetInternalParam = vi.fn();
    render(<ParamsPanel node={node} definition={presetDefinition(preset)} preset={preset} onSetParam={vi.fn()} onSetInternalParam={onSetInternalParam} />);
    const field = screen.getByTestId('param-out_features');
    expect(field).toHaveValue(8);
    fireEvent.change(field, { target: { value: '16' } });
    expect(onSetInternalParam).toHaveBeenLastCalledWith('node_0', 'out_features', 16);
  });
});
