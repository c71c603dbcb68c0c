// Node definitions shaped like the server's (api.md §4.1), for component and logic tests.
import type { NodeDefinition, ParamDefinition, PortDefinition } from '../api/types';

export function port(name: string, data_type: string, optional = false): PortDefinition {
  return { name, data_type, description: '', optional };
}

export function param(name: string, param_type: string, extra: Partial<ParamDefinition> = {}): ParamDefinition {
  return { name, param_type, default: null, description: '', options: [], min_value: null, max_value: null, visible_when: null, ...extra };
}

export function definition(node_name: string, extra: Partial<NodeDefinition> = {}): NodeDefinition {
  return {
    node_name,
    category: 'Test',
    description: `${node_name} for tests`,
    provider: 'builtin',
    version: '0.1.0',
    cacheable: true,
    available: true,
    unavailable_reason: null,
    flags: { deterministic: true, random: false, stateful: false, display_only: false, dynamic_outputs: false, exportable: true },
    inputs: [],
    outputs: [],
    params: [],
    ...extra,
  };
}

export const START = definition('Start', { category: 'Control', outputs: [port('trigger', 'TRIGGER')] });
export const TENSOR_INPUT = definition('TensorInput', {
  category: 'Data',
  outputs: [port('tensor', 'TENSOR')],
  params: [param('shape', 'string', { default: '1,4,4' })],
});
export const PRINT = definition('Print', {
  category: 'Utility',
  inputs: [port('value', 'ANY')],
  outputs: [port('value', 'ANY')],
  params: [param('label', 'string', { default: '' })],
});
export const LINEAR = definition('Linear', {
  category: 'Layers',
  inputs: [port('tensor', 'TENSOR'), port('bias', 'TENSOR', true)],
  outputs: [port('tensor', 'TENSOR')],
  params: [param('in_features', 'int', { default: 4, min_value: 1, max_value: 1024 })],
});
export const MODEL_SINK = definition('ModelSink', { inputs: [port('model', 'MODEL')] });
export const IMAGE_SOURCE = definition('ImageSource', { outputs: [port('image', 'IMAGE')] });
export const KERNEL = definition('Conv2dKernel', {
  outputs: [port('tensor', 'TENSOR')],
  params: [
    param('preset', 'select', { default: 'Edge', options: ['Edge', 'Custom'] }),
    param('kernel_size', 'int', { default: 3, min_value: 1, max_value: 15, visible_when: { preset: 'Custom' } }),
    param('scale', 'float', { default: 1.0, min_value: 0, max_value: 2 }),
    param('normalise', 'bool', { default: false }),
    param('weights', 'tensor_grid', { default: [[0, 1], [1, 0]], visible_when: { preset: 'Custom' } }),
    param('api_key', 'secret', { default: '' }),
    param('checkpoint', 'model_file', { default: '' }),
    param('picture', 'image_file', { default: '' }),
    param('audio', 'upload', { default: '', options: ['.wav'] }),
  ],
});

export const ALL = [START, TENSOR_INPUT, PRINT, LINEAR, MODEL_SINK, IMAGE_SOURCE, KERNEL];
