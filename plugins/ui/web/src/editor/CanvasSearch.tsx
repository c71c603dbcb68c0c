// The node search that double-clicking the canvas opens; picking a result drops it there.
import { useEffect, useMemo, useRef, useState } from 'react';
import { useStore } from '../store/store';
import { definitionsStore } from '../defs/definitionsStore';
import { paletteEntries, searchEntries } from './paletteEntries';

interface Props {
  screen: { x: number; y: number };
  onPick(nodeType: string): void;
  onClose(): void;
}

const MAX_RESULTS = 40;

export function CanvasSearch({ screen, onPick, onClose }: Props) {
  const defs = useStore(definitionsStore, (d) => d);
  const entries = useMemo(() => paletteEntries(defs), [defs]);
  const [query, setQuery] = useState('');
  const [active, setActive] = useState(0);
  const input = useRef<HTMLInputElement>(null);
  const results = useMemo(() => searchEntries(entries, query).slice(0, MAX_RESULTS), [entries, query]);

  useEffect(() => input.current?.focus(), []);
  useEffect(() => setActive(0), [query]);

  const pick = (index: number) => {
    const entry = results[index];
    if (entry) onPick(entry.type);
  };

  return (
    <div className="nl-canvas-search nowheel" style={{ left: screen.x, top: screen.y }} onMouseDown={(e) => e.stopPropagation()}>
      <input
        ref={input}
        data-testid="canvas-search"
        placeholder="Add node…"
        value={query}
        onChange={(e) => setQuery(e.target.value)}
        onBlur={(e) => {
          if (!e.currentTarget.parentElement?.contains(e.relatedTarget as Node | null)) onClose();
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onClose();
          else if (e.key === 'Enter') pick(active);
          else if (e.key === 'ArrowDown') setActive((i) => Math.min(results.length - 1, i + 1));
          else if (e.key === 'ArrowUp') setActive((i) => Math.max(0, i - 1));
          else return;
          e.preventDefault();
        }}
      />
      <ul className="nl-canvas-search-results" role="listbox">
        {results.map((entry, index) => (
          <li key={entry.type}>
            <button
              type="button"
              role="option"
              aria-selected={index === active}
              className={index === active ? 'nl-search-item nl-active' : 'nl-search-item'}
              data-testid={`canvas-search-item-${entry.type}`}
              onMouseEnter={() => setActive(index)}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => onPick(entry.type)}
            >
              <span>{entry.label}</span>
              <span className="nl-search-category">{entry.category}</span>
            </button>
          </li>
        ))}
        {results.length === 0 && <li className="nl-empty">No matching node</li>}
      </ul>
    </div>
  );
}
