// Run controls and graph file actions for the active tab.
import { memo, useEffect, useRef, useState, type ReactNode } from 'react';
import { apiGet, apiSend } from '../api/http';
import type { ErrorMode } from '../api/types';
import { runController } from '../app/services';
import { graphFromJsonText } from '../graph/serialize';
import { isActive } from '../run/runState';
import { runOptionsStore, setRunOptions } from '../run/runOptions';
import { useStore } from '../store/store';
import { toast } from '../ui/toast';
import { activeGraph, addNodeAt, openGraph, redo, undo } from './actions';
import { downloadGraph, fileStem } from './graphFiles';
import { canRedo, canUndo } from './history';
import { validateGraph } from './validationStore';
import { activeTab, setSavedName } from './workspace';
import { workspaceStore } from './workspaceStore';

interface DeviceList {
  default: string;
  devices: Array<{ value: string; label: string; available: boolean }>;
}

function useDevices(): string[] {
  const [devices, setDevices] = useState<string[]>(['auto', 'cpu']);
  useEffect(() => {
    apiGet<DeviceList>('/api/system/devices')
      .then((list) => setDevices(['auto', ...list.devices.filter((d) => d.available).map((d) => d.value)]))
      .catch(() => undefined);
  }, []);
  return devices;
}

/** Less-used file actions. The items stay mounted while closed so their test ids and the file
 * input keep working; a click on an item or anywhere outside closes the menu. */
function MoreMenu({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const root = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const close = (event: Event) => {
      if (event instanceof KeyboardEvent ? event.key === 'Escape' : !root.current?.contains(event.target as Node)) setOpen(false);
    };
    document.addEventListener('pointerdown', close);
    document.addEventListener('keydown', close);
    return () => {
      document.removeEventListener('pointerdown', close);
      document.removeEventListener('keydown', close);
    };
  }, [open]);
  return (
    <div className="nl-more" ref={root}>
      <button
        type="button"
        data-testid="toolbar-more"
        aria-haspopup="menu"
        aria-expanded={open}
        title="More actions"
        onClick={() => setOpen((o) => !o)}
      >
        ⋯
      </button>
      <div className="nl-more-menu" role="menu" hidden={!open} onClick={() => setOpen(false)}>
        {children}
      </div>
    </div>
  );
}

function ToolbarView() {
  const options = useStore(runOptionsStore, (o) => o);
  const active = useStore(runController.run, isActive);
  const connection = useStore(runController.connection, (c) => c);
  const history = useStore(workspaceStore, (ws) => activeTab(ws).history);
  const devices = useDevices();
  const fileInput = useRef<HTMLInputElement>(null);

  const run = () => {
    const graph = activeGraph();
    const tabId = workspaceStore.get().activeId;
    // The report maps problems onto nodes; the run itself reports them only as strings.
    void validateGraph(graph, tabId);
    runController.execute(
      graph,
      { record_outputs: options.recordOutputs, device: options.device, error_mode: options.errorMode, graph_id: tabId },
      tabId,
    );
  };

  const validate = async () => {
    const report = await validateGraph(activeGraph(), workspaceStore.get().activeId);
    if (!report) toast('Validation request failed', 'error');
    else if (report.valid) toast(report.warnings.length ? `Valid, ${report.warnings.length} warning(s)` : 'Graph is valid');
    else toast(`${report.errors.length} error(s): ${report.errors[0] ?? ''}`, 'error');
  };

  const importFile = async (file: File) => {
    try {
      const graph = graphFromJsonText(await file.text());
      openGraph(graph, typeof graph.name === 'string' && graph.name ? graph.name : fileStem(file.name));
      toast(`Imported ${file.name}`);
    } catch (error) {
      toast(`Could not import ${file.name}: ${error instanceof Error ? error.message : String(error)}`, 'error');
    }
  };

  const save = async () => {
    const tab = activeTab(workspaceStore.get());
    const name = window.prompt('Save graph as', tab.savedName ?? tab.title)?.trim();
    if (!name) return;
    try {
      await apiSend('POST', '/api/graph/save', { ...activeGraph(), name });
      workspaceStore.set((ws) => setSavedName(ws, tab.id, name));
      toast(`Saved “${name}”`);
    } catch (error) {
      toast(`Save failed: ${error instanceof Error ? error.message : String(error)}`, 'error');
    }
  };

  return (
    <div className="nl-toolbar" role="toolbar">
      <button type="button" className="nl-run" data-testid="run-button" onClick={run} title="Run the graph">
        ▶ Run
      </button>
      <button type="button" className="nl-stop" data-testid="stop-button" onClick={() => runController.stop()} disabled={!active} title="Stop the run">
        ■ Stop
      </button>
      <label className="nl-check" title="Keep every node output for the inspector">
        <input
          type="checkbox"
          data-testid="record-outputs"
          checked={options.recordOutputs}
          onChange={(e) => setRunOptions({ recordOutputs: e.target.checked })}
        />
        record outputs
      </label>
      <select aria-label="device" value={options.device} onChange={(e) => setRunOptions({ device: e.target.value })} data-testid="device-select">
        {(devices.includes(options.device) ? devices : [...devices, options.device]).map((d) => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
      </select>
      <select aria-label="error mode" value={options.errorMode} onChange={(e) => setRunOptions({ errorMode: e.target.value as ErrorMode })} data-testid="error-mode">
        <option value="fail_fast">fail fast</option>
        <option value="continue">continue</option>
        <option value="retry">retry</option>
      </select>
      <span className="nl-sep" />
      <button type="button" data-testid="validate-button" onClick={() => void validate()}>
        Validate
      </button>
      <button type="button" onClick={undo} disabled={!canUndo(history)} title="Undo (Ctrl+Z)" data-testid="undo-button">
        ↶
      </button>
      <button type="button" onClick={redo} disabled={!canRedo(history)} title="Redo (Ctrl+Shift+Z)" data-testid="redo-button">
        ↷
      </button>
      <button type="button" onClick={() => addNodeAt('note')} title="Add a note" data-testid="add-note-button">
        Note
      </button>
      <span className="nl-sep" />
      <button type="button" data-testid="save-graph-button" onClick={() => void save()} title="Save to the server's graphs folder">
        Save
      </button>
      <MoreMenu>
        <button type="button" role="menuitem" onClick={() => fileInput.current?.click()} title="Open a graph JSON file">
          Import JSON…
        </button>
        <button type="button" role="menuitem" data-testid="export-graph-button" onClick={() => downloadGraph(activeGraph())} title="Download the graph as JSON">
          Export JSON
        </button>
        <button type="button" role="menuitem" data-testid="clear-cache-button" onClick={() => runController.clearCache()} title="Empty the server's execution cache">
          Clear cache
        </button>
      </MoreMenu>
      <input
        ref={fileInput}
        type="file"
        accept=".json,application/json"
        data-testid="import-graph-input"
        className="nl-hidden-input"
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = '';
          if (file) void importFile(file);
        }}
      />
      <span className={`nl-connection nl-connection-${connection}`} title={`Execution socket: ${connection}`}>
        {connection === 'open' ? 'connected' : connection}
      </span>
    </div>
  );
}

export const Toolbar = memo(ToolbarView);
