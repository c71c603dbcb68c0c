// One tab per open graph.
import { memo, useState } from 'react';
import { useStore } from '../store/store';
import { canUndo } from './history';
import { activate, addTab, closeTab, renameTab } from './workspace';
import { workspaceStore } from './workspaceStore';

function TabBarView() {
  const tabs = useStore(workspaceStore, (ws) => ws.tabs);
  const activeId = useStore(workspaceStore, (ws) => ws.activeId);
  const [editing, setEditing] = useState<string | null>(null);

  return (
    <div className="nl-tabs" role="tablist">
      {tabs.map((tab, index) => (
        <div key={tab.id} className={tab.id === activeId ? 'nl-tab nl-tab-active' : 'nl-tab'}>
          {editing === tab.id ? (
            <input
              className="nl-tab-rename"
              autoFocus
              defaultValue={tab.title}
              onBlur={(e) => {
                const title = e.target.value.trim();
                if (title) workspaceStore.set((ws) => renameTab(ws, tab.id, title));
                setEditing(null);
              }}
              onKeyDown={(e) => {
                if (e.key === 'Enter') (e.target as HTMLInputElement).blur();
                if (e.key === 'Escape') setEditing(null);
              }}
            />
          ) : (
            <button
              type="button"
              role="tab"
              aria-selected={tab.id === activeId}
              data-testid={`tab-${index}`}
              onClick={() => workspaceStore.set((ws) => activate(ws, tab.id))}
              onDoubleClick={() => setEditing(tab.id)}
              title="Double-click to rename"
            >
              {tab.title}
              {canUndo(tab.history) && !tab.savedName ? ' •' : ''}
            </button>
          )}
          <button
            type="button"
            className="nl-tab-close"
            aria-label={`Close ${tab.title}`}
            onClick={() => {
              const edited = tab.history.past.length > 0 && tab.history.present.nodes.length > 0;
              if (!edited || window.confirm(`Close “${tab.title}”? Unsaved changes are lost.`)) workspaceStore.set((ws) => closeTab(ws, tab.id));
            }}
          >
            ×
          </button>
        </div>
      ))}
      <button type="button" className="nl-new-tab" data-testid="new-tab" onClick={() => workspaceStore.set((ws) => addTab(ws))} title="New graph">
        +
      </button>
    </div>
  );
}

export const TabBar = memo(TabBarView);
