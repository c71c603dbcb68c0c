// Tabs, each with its own graph and undo history. Pure functions; the store lives in workspaceStore.
import type { Viewport } from '@xyflow/react';
import type { Graph } from '../api/types';
import { emptyDoc, type FlowDoc } from '../graph/flow';
import { graphToDoc } from '../graph/serialize';
import { checkpoint, commit, createHistory, redo, replace, undo, type History } from './history';

export interface Tab {
  id: string;
  title: string;
  /** Name the graph was loaded or saved under on the server, if any. */
  savedName: string | null;
  history: History<FlowDoc>;
  viewport: Viewport | null;
}

export interface Workspace {
  tabs: Tab[];
  activeId: string;
}

export type DocUpdate = 'commit' | 'replace';

let tabCounter = 0;

export function newTabId(): string {
  tabCounter += 1;
  return `tab-${Date.now().toString(36)}-${tabCounter}`;
}

export function makeTab(doc: FlowDoc = emptyDoc(), savedName: string | null = null): Tab {
  const name = typeof doc.meta.name === 'string' && doc.meta.name ? doc.meta.name : 'Untitled';
  return { id: newTabId(), title: name, savedName, history: createHistory(doc), viewport: null };
}

export function initialWorkspace(): Workspace {
  const tab = makeTab();
  return { tabs: [tab], activeId: tab.id };
}

export function activeTab(ws: Workspace): Tab {
  return ws.tabs.find((t) => t.id === ws.activeId) ?? (ws.tabs[0] as Tab);
}

export function addTab(ws: Workspace, tab: Tab = makeTab()): Workspace {
  return { tabs: [...ws.tabs, tab], activeId: tab.id };
}

export function openGraphTab(ws: Workspace, graph: Graph, name?: string): Workspace {
  const tab = makeTab(graphToDoc(graph), name ?? null);
  if (name) tab.title = name;
  // An untouched empty tab is reused rather than left behind.
  const current = activeTab(ws);
  const pristine = current.history.present.nodes.length === 0 && current.history.past.length === 0 && !current.savedName;
  if (pristine) return { tabs: ws.tabs.map((t) => (t.id === current.id ? tab : t)), activeId: tab.id };
  return addTab(ws, tab);
}

export function closeTab(ws: Workspace, id: string): Workspace {
  const index = ws.tabs.findIndex((t) => t.id === id);
  if (index < 0) return ws;
  const tabs = ws.tabs.filter((t) => t.id !== id);
  if (tabs.length === 0) return initialWorkspace();
  const activeId = ws.activeId === id ? (tabs[Math.min(index, tabs.length - 1)] as Tab).id : ws.activeId;
  return { tabs, activeId };
}

export function activate(ws: Workspace, id: string): Workspace {
  return ws.tabs.some((t) => t.id === id) && ws.activeId !== id ? { ...ws, activeId: id } : ws;
}

function mapTab(ws: Workspace, id: string, fn: (tab: Tab) => Tab): Workspace {
  let changed = false;
  const tabs = ws.tabs.map((t) => {
    if (t.id !== id) return t;
    const next = fn(t);
    changed = changed || next !== t;
    return next;
  });
  return changed ? { ...ws, tabs } : ws;
}

export function updateDoc(ws: Workspace, id: string, fn: (doc: FlowDoc) => FlowDoc, mode: DocUpdate): Workspace {
  return mapTab(ws, id, (tab) => {
    const next = fn(tab.history.present);
    const history = mode === 'commit' ? commit(tab.history, next) : replace(tab.history, next);
    return history === tab.history ? tab : { ...tab, history };
  });
}

export function checkpointDoc(ws: Workspace, id: string): Workspace {
  return mapTab(ws, id, (tab) => ({ ...tab, history: checkpoint(tab.history) }));
}

export function undoDoc(ws: Workspace, id: string): Workspace {
  return mapTab(ws, id, (tab) => {
    const history = undo(tab.history);
    return history === tab.history ? tab : { ...tab, history };
  });
}

export function redoDoc(ws: Workspace, id: string): Workspace {
  return mapTab(ws, id, (tab) => {
    const history = redo(tab.history);
    return history === tab.history ? tab : { ...tab, history };
  });
}

export function renameTab(ws: Workspace, id: string, title: string): Workspace {
  return mapTab(ws, id, (tab) => ({
    ...tab,
    title,
    history: replace(tab.history, { ...tab.history.present, meta: { ...tab.history.present.meta, name: title } }),
  }));
}

export function setSavedName(ws: Workspace, id: string, savedName: string): Workspace {
  return mapTab(ws, id, (tab) => ({ ...tab, savedName, title: savedName }));
}

export function setViewport(ws: Workspace, id: string, viewport: Viewport): Workspace {
  return mapTab(ws, id, (tab) => ({ ...tab, viewport }));
}
