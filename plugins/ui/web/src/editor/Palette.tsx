// The node palette: every registry node type grouped by category, with search, drag and click-to-add.
import { memo, useMemo, useState } from 'react';
import { definitionsStore } from '../defs/definitionsStore';
import { useStore } from '../store/store';
import { DRAG_MIME, groupByCategory, paletteEntries, searchEntries, type PaletteEntry } from './paletteEntries';

interface Props {
  onAdd(nodeType: string): void;
}

function PaletteItem({ entry, onAdd }: { entry: PaletteEntry; onAdd(nodeType: string): void }) {
  return (
    <li
      className={`nl-palette-item${entry.available ? '' : ' nl-unavailable'}`}
      data-testid={`palette-item-${entry.type}`}
      draggable
      title={entry.reason ? `${entry.description}\n\nUnavailable: ${entry.reason}` : entry.description}
      onDragStart={(e) => {
        e.dataTransfer.setData(DRAG_MIME, entry.type);
        e.dataTransfer.setData('text/plain', entry.type);
        e.dataTransfer.effectAllowed = 'copy';
      }}
      onDoubleClick={() => onAdd(entry.type)}
    >
      <span className="nl-palette-label">{entry.label}</span>
      {entry.kind === 'preset' && <span className="nl-badge">preset</span>}
      <button type="button" className="nl-palette-add" aria-label={`Add ${entry.label}`} onClick={() => onAdd(entry.type)}>
        +
      </button>
    </li>
  );
}

function PaletteView({ onAdd }: Props) {
  const defs = useStore(definitionsStore, (d) => d);
  const [query, setQuery] = useState('');
  const [closed, setClosed] = useState<ReadonlySet<string>>(new Set());
  const entries = useMemo(() => paletteEntries(defs), [defs]);
  const groups = useMemo(() => groupByCategory(searchEntries(entries, query)), [entries, query]);
  const searching = query.trim() !== '';

  const toggle = (category: string) =>
    setClosed((current) => {
      const next = new Set(current);
      if (next.has(category)) next.delete(category);
      else next.add(category);
      return next;
    });

  return (
    <aside className="nl-palette" data-testid="palette">
      <input
        className="nl-palette-search"
        data-testid="palette-search"
        type="search"
        placeholder="Search nodes…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
      />
      {defs.error && <div className="nl-error-text">Could not load nodes: {defs.error}</div>}
      {!defs.loaded && !defs.error && <div className="nl-muted">Loading nodes…</div>}
      <div className="nl-palette-groups">
        {groups.map(([category, items]) => {
          const open = searching || !closed.has(category);
          return (
            <section key={category} className="nl-palette-group">
              <button type="button" className="nl-palette-category" aria-expanded={open} onClick={() => toggle(category)}>
                <span>{open ? '▾' : '▸'}</span> {category} <span className="nl-muted">{items.length}</span>
              </button>
              {open && (
                <ul>
                  {items.map((entry) => (
                    <PaletteItem key={entry.type} entry={entry} onAdd={onAdd} />
                  ))}
                </ul>
              )}
            </section>
          );
        })}
        {defs.loaded && groups.length === 0 && <div className="nl-muted">No node matches “{query}”.</div>}
      </div>
    </aside>
  );
}

export const Palette = memo(PaletteView);
