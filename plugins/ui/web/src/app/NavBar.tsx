// Top navigation: the editor and each library view.
import type { ViewEntry } from '../integration/optional';

interface Props {
  views: readonly ViewEntry[];
  current: string;
  onChoose(view: string): void;
}

export function NavBar({ views, current, onChoose }: Props) {
  return (
    <nav className="nl-nav">
      <span className="nl-brand">nodeloom</span>
      <button type="button" data-testid="nav-editor" aria-current={current === 'editor' ? 'page' : undefined} onClick={() => onChoose('editor')}>
        Editor
      </button>
      {views.map((view) => (
        <button
          key={view.id}
          type="button"
          data-testid={`nav-${view.id}`}
          aria-current={current === view.id ? 'page' : undefined}
          onClick={() => onChoose(view.id)}
        >
          {view.title}
        </button>
      ))}
    </nav>
  );
}
