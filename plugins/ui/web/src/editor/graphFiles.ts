// Graph JSON files in and out of the browser.
import type { Graph } from '../api/types';

export function fileStem(name: string): string {
  return name.replace(/\.json$/i, '') || 'graph';
}

export function downloadName(graphName: unknown): string {
  const base = typeof graphName === 'string' && graphName.trim() ? graphName.trim() : 'graph';
  return `${base.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
}

export function downloadGraph(graph: Graph): void {
  const blob = new Blob([`${JSON.stringify(graph, null, 2)}\n`], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = downloadName(graph.name);
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
