// The run log: Print output (node `log`), errors, warnings and run milestones.
import { memo, useEffect, useRef } from 'react';
import { runController } from '../app/services';
import { useStore } from '../store/store';

const SHOWN = 500;

function LogPanelView() {
  const log = useStore(runController.run, (s) => s.log);
  const phase = useStore(runController.run, (s) => s.phase);
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const shown = log.length > SHOWN ? log.slice(log.length - SHOWN) : log;

  useEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [shown]);

  return (
    <section className="nl-log" data-testid="log-panel">
      <header className="nl-panel-header">
        <span>Log</span>
        <span className={`nl-phase nl-phase-${phase}`} data-testid="run-phase">
          {phase}
        </span>
        {log.length > SHOWN && <span className="nl-muted">showing last {SHOWN} of {log.length}</span>}
      </header>
      <div
        className="nl-log-lines"
        ref={list}
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {shown.map((entry) => (
          <div key={entry.id} className={`nl-log-line nl-log-${entry.level}`} data-testid="log-line" data-level={entry.level} data-node={entry.nodeId ?? undefined}>
            {entry.nodeId && entry.level === 'log' && <span className="nl-log-node">{entry.nodeId}</span>}
            <span className="nl-log-text">{entry.text}</span>
          </div>
        ))}
        {shown.length === 0 && <div className="nl-muted">Run the graph to see its output here.</div>}
      </div>
    </section>
  );
}

export const LogPanel = memo(LogPanelView);
