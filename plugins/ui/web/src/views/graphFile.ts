import type { Graph } from '../api/types';

/** Checks the minimum a graph file needs before the editor opens it; the server validates the rest. */
export function parseGraphFile(text: string, fileName: string): Graph {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${fileName} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`${fileName} does not hold a graph object`);
  }
  const graph = parsed as Partial<Graph>;
  if (!Array.isArray(graph.nodes) || !Array.isArray(graph.edges)) {
    throw new Error(`${fileName} is not a graph: it needs "nodes" and "edges" lists`);
  }
  return graph as Graph;
}

export function stemOf(fileName: string): string {
  return fileName.replace(/\.json$/i, '');
}
