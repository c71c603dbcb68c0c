// The open tabs, kept across page reloads (sessionStorage; localStorage as the last workspace of
// any window) so a reload neither loses work nor the canvas a re-attached run reports on.
import type { Viewport } from '@xyflow/react';
import type { Graph } from '../api/types';
import { docToGraph, graphToDoc } from '../graph/serialize';
import { createStore } from '../store/store';
import { createHistory } from './history';
import { activeTab, initialWorkspace, type Tab, type Workspace } from './workspace';

const KEY = 'nodeloom.workspace';

interface StoredTab {
  id: string;
  title: string;
  savedName: string | null;
  viewport: Viewport | null;
  graph: Graph;
}

interface StoredWorkspace {
  version: 1;
  activeId: string;
  tabs: StoredTab[];
}

export function serializeWorkspace(ws: Workspace): StoredWorkspace {
  return {
    version: 1,
    activeId: ws.activeId,
    tabs: ws.tabs.map((t) => ({
      id: t.id,
      title: t.title,
      savedName: t.savedName,
      viewport: t.viewport,
      graph: docToGraph({ ...t.history.present, nodes: t.history.present.nodes.map((n) => ({ ...n, selected: false })) }),
    })),
  };
}

export function deserializeWorkspace(value: unknown): Workspace | null {
  const stored = value as Partial<StoredWorkspace> | null;
  if (!stored || stored.version !== 1 || !Array.isArray(stored.tabs) || stored.tabs.length === 0) return null;
  try {
    const tabs: Tab[] = stored.tabs.map((t) => ({
      id: String(t.id),
      title: String(t.title ?? 'Untitled'),
      savedName: typeof t.savedName === 'string' ? t.savedName : null,
      viewport: t.viewport ?? null,
      history: createHistory(graphToDoc(t.graph)),
    }));
    const activeId = tabs.some((t) => t.id === stored.activeId) ? (stored.activeId as string) : (tabs[0] as Tab).id;
    return { tabs, activeId };
  } catch {
    return null;
  }
}

function readStored(): Workspace | null {
  for (const storage of [globalThis.sessionStorage, globalThis.localStorage]) {
    try {
      const raw = storage?.getItem(KEY);
      if (raw) {
        const ws = deserializeWorkspace(JSON.parse(raw));
        if (ws) return ws;
      }
    } catch {
      // A corrupt or inaccessible entry just means a fresh workspace.
    }
  }
  return null;
}

export const workspaceStore = createStore<Workspace>(readStored() ?? initialWorkspace());

let saveTimer: ReturnType<typeof setTimeout> | null = null;

function saveNow(): void {
  saveTimer = null;
  const text = JSON.stringify(serializeWorkspace(workspaceStore.get()));
  for (const storage of [globalThis.sessionStorage, globalThis.localStorage]) {
    try {
      storage?.setItem(KEY, text);
    } catch {
      // Quota exceeded: the workspace is simply not persisted.
    }
  }
}

export function persistWorkspace(): () => void {
  const unsubscribe = workspaceStore.subscribe(() => {
    if (saveTimer === null) saveTimer = setTimeout(saveNow, 400);
  });
  const onUnload = () => {
    if (saveTimer !== null) {
      clearTimeout(saveTimer);
      saveNow();
    }
  };
  window.addEventListener('beforeunload', onUnload);
  return () => {
    unsubscribe();
    window.removeEventListener('beforeunload', onUnload);
  };
}

export function currentTab(): Tab {
  return activeTab(workspaceStore.get());
}
