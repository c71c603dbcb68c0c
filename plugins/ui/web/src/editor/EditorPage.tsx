// The editor: palette, tabbed canvas, right panel, and the log and loss chart below.
import { useCallback, useEffect, useState } from 'react';
import { LogPanel } from '../run/LogPanel';
import { LossChart } from '../run/LossChart';
import { useStore } from '../store/store';
import { addNodeAt } from './actions';
import { Canvas } from './Canvas';
import { Palette } from './Palette';
import { RightPanel } from './RightPanel';
import { useEditorShortcuts } from './shortcuts';
import { TabBar } from './TabBar';
import { Toolbar } from './Toolbar';
import { workspaceStore } from './workspaceStore';

export function EditorPage({ visible }: { visible: boolean }) {
  const tabId = useStore(workspaceStore, (ws) => ws.activeId);
  const [inspected, setInspected] = useState<string | null>(null);
  useEffect(() => setInspected(null), [tabId]);
  useEditorShortcuts(visible);
  const onAdd = useCallback((nodeType: string) => void addNodeAt(nodeType), []);

  return (
    <div className="nl-editor" hidden={!visible}>
      <Palette onAdd={onAdd} />
      <main className="nl-centre">
        <TabBar />
        <Toolbar />
        <Canvas key={tabId} tabId={tabId} onOpenInspector={setInspected} />
        <div className="nl-bottom">
          <LogPanel />
          <LossChart />
        </div>
      </main>
      <RightPanel tabId={tabId} inspectorNodeId={inspected} onCloseInspector={() => setInspected(null)} />
    </div>
  );
}
