import { apiGet } from '../api/http';
import type { GradEntry, OutputEntry, StepEntry, ValueBody } from './types';

// Every segment is encoded: gradient port names contain `.`, `[` and `]` (api.md §2.10).
function base(runId: string, nodeId?: string): string {
  const run = `/api/execution/outputs/${encodeURIComponent(runId)}`;
  return nodeId === undefined ? run : `${run}/${encodeURIComponent(nodeId)}`;
}

export const JSON_MAX_ELEMENTS = 4096;

export function listOutputs(runId: string): Promise<OutputEntry[]> {
  return apiGet<OutputEntry[]>(base(runId));
}

export function valueUrl(runId: string, nodeId: string, port: string, slice: string, format: 'json' | 'npy' = 'json'): string {
  const query = new URLSearchParams();
  if (slice) query.set('slice', slice);
  if (format === 'json') query.set('max_elements', String(JSON_MAX_ELEMENTS));
  else query.set('format', 'npy');
  const qs = query.toString();
  return `${base(runId, nodeId)}/${encodeURIComponent(port)}${qs ? `?${qs}` : ''}`;
}

export function fetchValue(runId: string, nodeId: string, port: string, slice = ''): Promise<ValueBody> {
  return apiGet<ValueBody>(valueUrl(runId, nodeId, port, slice));
}

export function fetchSteps(runId: string, nodeId: string): Promise<StepEntry[]> {
  return apiGet<StepEntry[]>(`${base(runId, nodeId)}/__steps_index`);
}

export function fetchGrads(runId: string, nodeId: string): Promise<GradEntry[]> {
  return apiGet<GradEntry[]>(`${base(runId, nodeId)}/__grad_index`);
}

export const stepPort = (index: number, key: string) => `__step__${index}__${key}`;

export const gradPort = (entry: GradEntry) => (entry.kind === 'weight' ? `__weight_grad__${entry.port}` : `${entry.port}__grad`);
