// What node components need besides their own props, provided once by the canvas.
import { createContext, useContext } from 'react';
import type { PresetDefinition } from '../../api/types';

export interface NodeEnvironment {
  tabId: string;
  embeddedPresets: readonly PresetDefinition[] | undefined;
  edgeHandles: ReadonlyMap<string, { inputs: string[]; outputs: string[] }>;
  setNoteData(nodeId: string, patch: Record<string, unknown>): void;
  openInspector(nodeId: string): void;
}

const NO_ENV: NodeEnvironment = {
  tabId: '',
  embeddedPresets: undefined,
  edgeHandles: new Map(),
  setNoteData: () => undefined,
  openInspector: () => undefined,
};

export const NodeEnvironmentContext = createContext<NodeEnvironment>(NO_ENV);

export function useNodeEnvironment(): NodeEnvironment {
  return useContext(NodeEnvironmentContext);
}
