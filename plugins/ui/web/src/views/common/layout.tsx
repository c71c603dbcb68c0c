import type { CSSProperties, ReactNode } from 'react';

interface ViewProps {
  id: string;
  title: string;
  children: ReactNode;
  actions?: ReactNode;
}

/**
 * The frame every library view shares. The app shell already wraps each view in the element that
 * carries `data-testid="view-<id>"`; repeating it here would make that test id ambiguous.
 */
export function ViewFrame({ id, title, children, actions }: ViewProps) {
  return (
    <section className={`nl-library-view nl-library-view-${id}`} style={frameStyle}>
      <header style={headerStyle}>
        <h2 style={{ margin: 0, fontSize: 16 }}>{title}</h2>
        {actions && <div style={{ display: 'flex', gap: 8 }}>{actions}</div>}
      </header>
      {children}
    </section>
  );
}

export const listStyle: CSSProperties = { listStyle: 'none', margin: 0, padding: 0 };

export const rowStyle: CSSProperties = {
  display: 'flex',
  alignItems: 'center',
  gap: 8,
  padding: '6px 4px',
  borderBottom: '1px solid var(--line, rgba(128,128,128,0.25))',
};

export const mutedStyle: CSSProperties = { opacity: 0.7, fontSize: 12 };

const frameStyle: CSSProperties = { display: 'flex', flexDirection: 'column', gap: 10, maxWidth: 1100 };
const headerStyle: CSSProperties = { display: 'flex', alignItems: 'center', justifyContent: 'space-between' };
