// The registry as the UI knows it; refetched on registry_changed without touching any canvas.
import { apiGet } from '../api/http';
import type { NodeDefinition, PresetDefinition } from '../api/types';
import { createStore } from '../store/store';
import { buildDefinitions, EMPTY_DEFINITIONS, type Definitions } from './definitions';

export const definitionsStore = createStore<Definitions>(EMPTY_DEFINITIONS);

let inflight: Promise<void> | null = null;
// A registry swap during a fetch may not be reflected in its answer, so fetch once more after it.
let again = false;

let started = false;

/** Loads the registry unless a load has already begun (main.tsx starts one before React renders). */
export function ensureDefinitions(): Promise<void> {
  if (started) return inflight ?? Promise.resolve();
  return loadDefinitions();
}

export function loadDefinitions(): Promise<void> {
  started = true;
  if (inflight) {
    again = true;
    return inflight;
  }
  inflight = (async () => {
    try {
      const [nodes, presets] = await Promise.all([
        apiGet<NodeDefinition[]>('/api/nodes'),
        apiGet<PresetDefinition[]>('/api/presets').catch(() => [] as PresetDefinition[]),
      ]);
      definitionsStore.set(buildDefinitions(nodes, presets));
    } catch (error) {
      definitionsStore.set((current) => ({ ...current, error: error instanceof Error ? error.message : String(error) }));
    } finally {
      inflight = null;
      if (again) {
        again = false;
        void loadDefinitions();
      }
    }
  })();
  return inflight;
}
