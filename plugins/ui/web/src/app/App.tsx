// The application shell: navigation, the always-mounted editor, and the chosen library view.
import { Component, Suspense, useEffect, useMemo, useState, type ReactNode } from 'react';
import { ensureDefinitions } from '../defs/definitionsStore';
import { EditorBridgeContext } from '../editor/bridge';
import { EditorPage } from '../editor/EditorPage';
import { persistWorkspace } from '../editor/workspaceStore';
import { VIEWS } from '../integration/optional';
import { useStore } from '../store/store';
import { toastStore } from '../ui/toast';
import { createBridge } from './bridge';
import { NavBar } from './NavBar';
import { runController } from './services';

const VIEW_KEY = 'nodeloom.view';

class ViewBoundary extends Component<{ children: ReactNode; viewId: string }, { error: Error | null }> {
  state = { error: null as Error | null };

  static getDerivedStateFromError(error: Error) {
    return { error };
  }

  componentDidUpdate(previous: { viewId: string }) {
    if (previous.viewId !== this.props.viewId && this.state.error) this.setState({ error: null });
  }

  render() {
    if (this.state.error) return <div className="nl-error-text nl-view-error">This view failed: {this.state.error.message}</div>;
    return this.props.children;
  }
}

function Toast() {
  const toast = useStore(toastStore, (t) => t);
  if (!toast) return null;
  return (
    <div className={`nl-toast nl-toast-${toast.level}`} role="status" data-testid="toast">
      {toast.text}
    </div>
  );
}

function initialView(): string {
  try {
    const stored = sessionStorage.getItem(VIEW_KEY);
    if (stored && (stored === 'editor' || VIEWS.some((v) => v.id === stored))) return stored;
  } catch {
    // ignored: start on the editor
  }
  return 'editor';
}

export function App() {
  const [view, setView] = useState(initialView);
  const bridge = useMemo(() => createBridge(setView), []);

  useEffect(() => {
    void ensureDefinitions();
    runController.start();
    const stopPersisting = persistWorkspace();
    return () => {
      stopPersisting();
      runController.stopSocket();
    };
  }, []);

  useEffect(() => {
    try {
      sessionStorage.setItem(VIEW_KEY, view);
    } catch {
      // ignored
    }
  }, [view]);

  const current = VIEWS.find((v) => v.id === view);
  const ViewComponent = current?.component;

  return (
    <EditorBridgeContext.Provider value={bridge}>
      <div className="nl-app">
        <NavBar views={VIEWS} current={view} onChoose={setView} />
        <div className="nl-main">
          <EditorPage visible={!ViewComponent} />
          {ViewComponent && (
            <div className="nl-view" data-testid={`view-${view}`}>
              <ViewBoundary viewId={view}>
                <Suspense fallback={<div className="nl-muted nl-view-loading">Loading…</div>}>
                  <ViewComponent />
                </Suspense>
              </ViewBoundary>
            </div>
          )}
        </div>
        <Toast />
      </div>
    </EditorBridgeContext.Provider>
  );
}
