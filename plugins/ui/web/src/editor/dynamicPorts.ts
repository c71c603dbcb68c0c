// Output ports that depend on params (flags.dynamic_outputs), asked from the server (api.md §2.2.4)
// and cached per (node type, params).
import { useEffect } from 'react';
import { apiSend } from '../api/http';
import type { NodeDefinition, PortDefinition } from '../api/types';
import { createStore, useStore } from '../store/store';

const cache = new Map<string, PortDefinition[]>();
const failed = new Set<string>();
const version = createStore(0);

function keyFor(def: NodeDefinition | undefined, params: Record<string, unknown>): string | null {
  return def?.flags?.dynamic_outputs ? `${def.node_name}\u0000${JSON.stringify(params)}` : null;
}

export function useDynamicOutputs(def: NodeDefinition | undefined, params: Record<string, unknown>): PortDefinition[] | undefined {
  const key = keyFor(def, params);
  const ports = useStore(version, () => (key ? cache.get(key) : undefined));
  useEffect(() => {
    if (!key || !def || cache.has(key) || failed.has(key)) return;
    const timer = setTimeout(() => {
      apiSend<{ outputs: PortDefinition[] }>('POST', `/api/nodes/${encodeURIComponent(def.node_name)}/ports`, { params })
        .then((answer) => cache.set(key, answer.outputs))
        .catch(() => failed.add(key))
        .finally(() => version.set((v) => v + 1));
    }, 250);
    return () => clearTimeout(timer);
    // `key` already encodes def and params; depending on their identities would refetch on every render.
  }, [key]);
  return ports;
}

/** A registry swap may change what the ports are. */
export function forgetDynamicPorts(): void {
  cache.clear();
  failed.clear();
  version.set((v) => v + 1);
}

/** The outputs already known for these params, for checks outside React (connection validity). */
export function cachedDynamicOutputs(def: NodeDefinition | undefined, params: Record<string, unknown>): PortDefinition[] | undefined {
  const key = keyFor(def, params);
  return key ? cache.get(key) : undefined;
}
