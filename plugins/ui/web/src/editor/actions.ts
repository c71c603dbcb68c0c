// Editor commands on the active tab, shared by the toolbar, keyboard shortcuts, palette and bridge.
import type { XYPosition } from '@xyflow/react';
import type { Graph } from '../api/types';
import { defaultParams, resolveDefinition } from '../defs/definitions';
import { definitionsStore } from '../defs/definitionsStore';
import { NOTE_TYPE, type FlowDoc } from '../graph/flow';
import { docToGraph } from '../graph/serialize';
import { canvasCentre } from './canvasApi';
import * as ops from './docOps';
import {
  activeTab,
  addTab,
  checkpointDoc,
  openGraphTab,
  redoDoc,
  undoDoc,
  updateDoc,
  type DocUpdate,
} from './workspace';
import { workspaceStore } from './workspaceStore';

export function editActive(fn: (doc: FlowDoc) => FlowDoc, mode: DocUpdate = 'commit'): void {
  workspaceStore.set((ws) => updateDoc(ws, ws.activeId, fn, mode));
}

export function activeDoc(): FlowDoc {
  return activeTab(workspaceStore.get()).history.present;
}

export function activeGraph(): Graph {
  const tab = activeTab(workspaceStore.get());
  return { ...docToGraph(tab.history.present), name: tab.title };
}

export function addNodeAt(nodeType: string, position: XYPosition = canvasCentre()): string {
  let id = '';
  if (nodeType === NOTE_TYPE) {
    editActive((doc) => {
      const result = ops.addNote(doc, position);
      id = result.id;
      return result.doc;
    });
    return id;
  }
  const doc = activeDoc();
  const embedded = Array.isArray(doc.meta.presets) ? (doc.meta.presets as never[]) : undefined;
  const def = resolveDefinition(definitionsStore.get(), nodeType, embedded);
  editActive((d) => {
    const result = ops.addNode(d, nodeType, position, defaultParams(def));
    id = result.id;
    return result.doc;
  });
  return id;
}

export function checkpoint(): void {
  workspaceStore.set((ws) => checkpointDoc(ws, ws.activeId));
}

export function undo(): void {
  workspaceStore.set((ws) => undoDoc(ws, ws.activeId));
}

export function redo(): void {
  workspaceStore.set((ws) => redoDoc(ws, ws.activeId));
}

export function newTab(): void {
  workspaceStore.set((ws) => addTab(ws));
}

export function openGraph(graph: Graph, name?: string): void {
  workspaceStore.set((ws) => openGraphTab(ws, graph, name));
}

let clipboard: ops.ClipboardPayload | null = null;
let pasteCount = 0;

export function copy(): boolean {
  const payload = ops.copySelection(activeDoc());
  if (!payload) return false;
  clipboard = payload;
  pasteCount = 0;
  // The system clipboard lets a selection travel between windows; failure is harmless.
  void navigator.clipboard?.writeText(JSON.stringify(payload)).catch(() => undefined);
  return true;
}

export function cut(): void {
  if (copy()) editActive(ops.deleteSelection);
}

export function paste(payload: ops.ClipboardPayload | null = clipboard): void {
  if (!payload) return;
  pasteCount += 1;
  const offset = { x: 40 * pasteCount, y: 40 * pasteCount };
  editActive((doc) => ops.paste(doc, payload, offset));
}

export function deleteSelection(): void {
  editActive(ops.deleteSelection);
}

export function selectAll(): void {
  editActive(ops.selectAll, 'replace');
}

export function hasClipboard(): boolean {
  return clipboard !== null;
}
