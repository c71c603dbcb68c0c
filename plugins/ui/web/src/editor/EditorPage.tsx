// The editor: palette, tabbed canvas, right panel, and the log and loss chart below.
import { useCallback, useEffect, useState, type CSSProperties } from 'react';
import { LogPanel } from '../run/LogPanel';
import { LossChart } from '../run/LossChart';
import { useStore } from '../store/store';
import { addNodeAt } from './actions';
import { Canvas } from './Canvas';
import { Palette } from './Palette';
import { RightPanel } from './RightPanel';
import { RightResizer, useRightPanelWidth } from './RightResizer';
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
  const [rightWidth, setRightWidth] = useRightPanelWidth(inspected ? 'inspector' : 'params');

  return (
    <div className="nl-editor" hidden={!visible} style={{ '--nl-right-width': `${rightWidth}px` } as CSSProperties}>
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
      <div className="nl-right-wrap">
        <RightResizer width={rightWidth} onResize={setRightWidth} />
        <RightPanel tabId={tabId} inspectorNodeId={inspected} onCloseInspector={() => setInspected(null)} />
      </div>
    </div>
  );
}
