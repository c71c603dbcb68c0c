// One short message line for the outcome of toolbar actions (saved, import failed, …).
import { createStore } from '../store/store';

export interface Toast {
  id: number;
  level: 'info' | 'error';
  text: string;
}

export const toastStore = createStore<Toast | null>(null);
let counter = 0;

export function toast(text: string, level: Toast['level'] = 'info'): void {
  counter += 1;
  const id = counter;
  toastStore.set({ id, level, text });
  setTimeout(() => toastStore.set((t) => (t && t.id === id ? null : t)), level === 'error' ? 8000 : 3500);
}
