// Keyboard shortcuts of the canvas. Keys typed into a field belong to that field.
import { useEffect } from 'react';
import { isClipboardPayload } from './docOps';
import * as actions from './actions';

function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || !el.tagName) return false;
  const tag = el.tagName.toLowerCase();
  return tag === 'input' || tag === 'textarea' || tag === 'select' || el.isContentEditable;
}

export function handleShortcut(event: KeyboardEvent): boolean {
  if (isTyping(event.target)) return false;
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (mod && key === 'z') {
    if (event.shiftKey) actions.redo();
    else actions.undo();
  } else if (mod && key === 'y') actions.redo();
  else if (mod && key === 'c') return actions.copy();
  else if (mod && key === 'x') actions.cut();
  else if (mod && key === 'v') actions.paste();
  else if (mod && key === 'a') actions.selectAll();
  else if (!mod && (event.key === 'Delete' || event.key === 'Backspace')) actions.deleteSelection();
  else return false;
  return true;
}

export function useEditorShortcuts(enabled: boolean): void {
  useEffect(() => {
    if (!enabled) return;
    const onKey = (event: KeyboardEvent) => {
      if (handleShortcut(event)) event.preventDefault();
    };
    // A selection copied in another window arrives only through the system clipboard.
    const onPaste = (event: ClipboardEvent) => {
      if (isTyping(event.target)) return;
      const text = event.clipboardData?.getData('text/plain');
      if (!text) return;
      try {
        const payload: unknown = JSON.parse(text);
        if (isClipboardPayload(payload) && !actions.hasClipboard()) {
          actions.paste(payload);
          event.preventDefault();
        }
      } catch {
        // Not ours.
      }
    };
    document.addEventListener('keydown', onKey);
    document.addEventListener('paste', onPaste);
    return () => {
      document.removeEventListener('keydown', onKey);
      document.removeEventListener('paste', onPaste);
    };
  }, [enabled]);
}
