// Node type lookup as the engine resolves it (api.md §2.2.2): exact key, then a unique
// plugin-qualified key for a bare name; `preset:<name>` instances get a definition built from the preset.
import type { NodeDefinition, ParamDefinition, PresetDefinition } from '../api/types';

export interface Definitions {
  nodes: NodeDefinition[];
  presets: PresetDefinition[];
  byType: ReadonlyMap<string, NodeDefinition>;
  presetByName: ReadonlyMap<string, PresetDefinition>;
  loaded: boolean;
  error: string | null;
}

export const PRESET_PREFIX = 'preset:';

export function buildDefinitions(nodes: NodeDefinition[], presets: PresetDefinition[]): Definitions {
  return {
    nodes,
    presets,
    byType: new Map(nodes.map((n) => [n.node_name, n])),
    presetByName: new Map(presets.map((p) => [p.preset_name, p])),
    loaded: true,
    error: null,
  };
}

export const EMPTY_DEFINITIONS: Definitions = {
  nodes: [],
  presets: [],
  byType: new Map(),
  presetByName: new Map(),
  loaded: false,
  error: null,
};

const NO_FLAGS = { deterministic: true, random: false, stateful: false, display_only: false, dynamic_outputs: false, exportable: true };

export function presetDefinition(preset: PresetDefinition): NodeDefinition {
  return {
    node_name: `${PRESET_PREFIX}${preset.preset_name}`,
    category: preset.category || 'Preset',
    description: preset.description ?? '',
    provider: preset.source ?? 'preset',
    version: '',
    cacheable: true,
    available: preset.available !== false,
    unavailable_reason: preset.error ?? null,
    flags: NO_FLAGS,
    inputs: (preset.exposed_inputs ?? []).map((p) => ({ name: p.name, data_type: p.data_type || 'ANY', description: p.description ?? '', optional: false })),
    outputs: (preset.exposed_outputs ?? []).map((p) => ({ name: p.name, data_type: p.data_type || 'ANY', description: p.description ?? '', optional: false })),
    // Preset params live in data.internalParams; see presetParamFields.
    params: [],
  };
}

const presetCache = new WeakMap<PresetDefinition, NodeDefinition>();

function cachedPresetDefinition(preset: PresetDefinition): NodeDefinition {
  let def = presetCache.get(preset);
  if (!def) {
    def = presetDefinition(preset);
    presetCache.set(preset, def);
  }
  return def;
}

export function findPreset(defs: Definitions, nodeType: string, embedded?: readonly PresetDefinition[]): PresetDefinition | undefined {
  if (!nodeType.startsWith(PRESET_PREFIX)) return undefined;
  const name = nodeType.slice(PRESET_PREFIX.length);
  return defs.presetByName.get(name) ?? embedded?.find((p) => p.preset_name === name);
}

export function resolveDefinition(
  defs: Definitions,
  nodeType: string,
  embedded?: readonly PresetDefinition[],
): NodeDefinition | undefined {
  const exact = defs.byType.get(nodeType);
  if (exact) return exact;
  if (nodeType.startsWith(PRESET_PREFIX)) {
    const preset = findPreset(defs, nodeType, embedded);
    return preset ? cachedPresetDefinition(preset) : undefined;
  }
  if (nodeType.includes(':')) return undefined;
  const matches = defs.nodes.filter((n) => n.node_name.endsWith(`:${nodeType}`));
  return matches.length === 1 ? matches[0] : undefined;
}

export interface PresetParamField {
  internalNode: string;
  paramName: string;
  label: string;
  group: string;
  def: ParamDefinition;
}

export function presetParamFields(preset: PresetDefinition): PresetParamField[] {
  return (preset.exposed_params ?? []).map((p) => ({
    internalNode: p.internal_node,
    paramName: p.param_name,
    label: p.display_name || p.param_name,
    group: p.group ?? '',
    def: p.param_def ?? {
      name: p.param_name,
      param_type: 'string',
      default: preset.nodes.find((n) => n.id === p.internal_node)?.params?.[p.param_name] ?? '',
      description: '',
      options: [],
      min_value: null,
      max_value: null,
      visible_when: null,
    },
  }));
}

export function defaultParams(def: NodeDefinition | undefined): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const p of def?.params ?? []) params[p.name] = p.default ?? null;
  return params;
}
