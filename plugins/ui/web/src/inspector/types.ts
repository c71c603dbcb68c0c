// Shapes of api.md §2.10 and §4.7.

export interface OutputEntry {
  node_id: string;
  port: string;
  type: string;
  full_shape: number[] | null;
}

export interface TensorBody {
  type: 'tensor';
  dtype: string;
  full_shape: number[];
  slice: string;
  sliced_shape: number[];
  values: unknown;
  truncated: boolean;
  min?: number | null;
  max?: number | null;
  mean?: number | null;
  nan_count?: number;
  inf_count?: number;
}

export interface OtherBody {
  type: string;
  value?: unknown;
  length?: number;
  repr?: string;
  values?: unknown[];
  nonfinite?: string;
  class?: string;
  params?: number;
  trainable?: number;
}

export type ValueBody = (TensorBody | OtherBody) & { run_id?: string; node_id?: string; port?: string };

export interface StepEntry {
  index: number;
  name?: string;
  description?: string;
  scalars?: Record<string, number | null>;
  tensor_keys?: string[];
  [key: string]: unknown;
}

export type HealthStatus = 'healthy' | 'vanishing' | 'exploding' | 'unknown';

export interface GradHealth {
  status: HealthStatus;
  norm: number | null;
  mean: number | null;
  max: number | null;
}

export interface GradEntry {
  port: string;
  kind: 'port' | 'weight';
  has_grad: boolean;
  health: GradHealth | null;
}

export function isTensorBody(body: ValueBody): body is TensorBody & { run_id?: string } {
  return body.type === 'tensor';
}
