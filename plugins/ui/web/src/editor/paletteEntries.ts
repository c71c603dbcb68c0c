// Everything that can be added to a canvas: node types, presets and notes, with search.
import type { Definitions } from '../defs/definitions';
import { PRESET_PREFIX } from '../defs/definitions';
import { NOTE_TYPE } from '../graph/flow';

export interface PaletteEntry {
  type: string;
  label: string;
  category: string;
  description: string;
  available: boolean;
  reason: string | null;
  kind: 'node' | 'preset' | 'note';
}

export const NOTE_ENTRY: PaletteEntry = {
  type: NOTE_TYPE,
  label: 'Note',
  category: 'Annotations',
  description: 'A text note on the canvas; saved with the graph, ignored by runs.',
  available: true,
  reason: null,
  kind: 'note',
};

export function paletteEntries(defs: Definitions): PaletteEntry[] {
  const nodes: PaletteEntry[] = defs.nodes.map((n) => ({
    type: n.node_name,
    label: n.node_name,
    category: n.category || 'Other',
    description: n.description,
    available: n.available,
    reason: n.unavailable_reason,
    kind: 'node',
  }));
  const presets: PaletteEntry[] = defs.presets.map((p) => ({
    type: `${PRESET_PREFIX}${p.preset_name}`,
    label: p.preset_name,
    category: `Presets · ${p.category || 'Preset'}`,
    description: p.description,
    available: p.available !== false,
    reason: p.error ?? null,
    kind: 'preset',
  }));
  return [...nodes, ...presets, NOTE_ENTRY];
}

/** Name matches first (prefix before substring), then category and description matches. */
export function searchEntries(entries: readonly PaletteEntry[], query: string): PaletteEntry[] {
  const q = query.trim().toLowerCase();
  if (!q) return [...entries];
  const scored: Array<[number, PaletteEntry]> = [];
  for (const entry of entries) {
    const label = entry.label.toLowerCase();
    let score = -1;
    if (label === q) score = 0;
    else if (label.startsWith(q)) score = 1;
    else if (label.includes(q)) score = 2;
    else if (entry.category.toLowerCase().includes(q)) score = 3;
    else if (entry.description.toLowerCase().includes(q)) score = 4;
    if (score >= 0) scored.push([score, entry]);
  }
  scored.sort((a, b) => a[0] - b[0] || a[1].label.localeCompare(b[1].label));
  return scored.map(([, entry]) => entry);
}

export function groupByCategory(entries: readonly PaletteEntry[]): Array<[string, PaletteEntry[]]> {
  const groups = new Map<string, PaletteEntry[]>();
  for (const entry of entries) {
    const list = groups.get(entry.category) ?? [];
    list.push(entry);
    groups.set(entry.category, list);
  }
  return [...groups.entries()].sort(([a], [b]) => {
    // Notes and presets go after the node categories.
    const rank = (c: string) => (c === 'Annotations' ? 2 : c.startsWith('Presets') ? 1 : 0);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
}

export const DRAG_MIME = 'application/x-nodeloom-node-type';
