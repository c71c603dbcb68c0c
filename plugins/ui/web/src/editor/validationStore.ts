// The last validation report of a tab, indexed by node so each node shows its own problems.
import { apiSend } from '../api/http';
import type { Graph, ValidationIssue, ValidationReport } from '../api/types';
import { createStore } from '../store/store';

export interface ValidationState {
  tabId: string | null;
  report: ValidationReport | null;
  byNode: Record<string, ValidationIssue[]>;
  error: string | null;
}

export const validationStore = createStore<ValidationState>({ tabId: null, report: null, byNode: {}, error: null });

export function indexIssues(issues: readonly ValidationIssue[]): Record<string, ValidationIssue[]> {
  const byNode: Record<string, ValidationIssue[]> = {};
  for (const issue of issues) {
    if (!issue.node_id) continue;
    // Issues of preset members name the expanded id; they belong to the instance on the canvas.
    const id = issue.node_id.split('__')[0] as string;
    (byNode[id] ??= []).push(issue);
  }
  return byNode;
}

export async function validateGraph(graph: Graph, tabId: string): Promise<ValidationReport | null> {
  try {
    const report = await apiSend<ValidationReport>('POST', '/api/graph/validate', graph);
    validationStore.set({ tabId, report, byNode: indexIssues(report.issues), error: null });
    return report;
  } catch (error) {
    validationStore.set({ tabId, report: null, byNode: {}, error: error instanceof Error ? error.message : String(error) });
    return null;
  }
}

export function clearValidation(): void {
  validationStore.set({ tabId: null, report: null, byNode: {}, error: null });
}
