// Wire shapes of api.md §4 and the WebSocket events of §3.4. Fields the server may add later are
// tolerated by the index signatures on the graph shapes, because graphs must round-trip unknown keys.

export type PortType = string;

export interface PortDefinition {
  name: string;
  data_type: PortType;
  description: string;
  optional: boolean;
}

export type ParamType =
  | 'int'
  | 'float'
  | 'string'
  | 'bool'
  | 'select'
  | 'model_file'
  | 'image_file'
  | 'tensor_grid'
  | 'secret'
  | 'upload';

export interface ParamDefinition {
  name: string;
  param_type: ParamType | string;
  default: unknown;
  description: string;
  options: string[];
  min_value: number | null;
  max_value: number | null;
  visible_when: Record<string, unknown> | null;
}

export interface NodeFlags {
  deterministic: boolean;
  random: boolean;
  stateful: boolean;
  display_only: boolean;
  dynamic_outputs: boolean;
  exportable: boolean;
}

export interface NodeDefinition {
  node_name: string;
  category: string;
  description: string;
  provider: string;
  version: string;
  cacheable: boolean;
  available: boolean;
  unavailable_reason: string | null;
  flags: NodeFlags;
  inputs: PortDefinition[];
  outputs: PortDefinition[];
  params: ParamDefinition[];
}

export interface XYPosition {
  x: number;
  y: number;
}

export interface GraphNodeData {
  params?: Record<string, unknown>;
  internalParams?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

export interface GraphNode {
  id: string;
  type: string;
  position?: XYPosition;
  data?: GraphNodeData;
  [key: string]: unknown;
}

export type EdgeKind = 'data' | 'trigger';

export interface GraphEdge {
  id?: string;
  source: string;
  target: string;
  sourceHandle?: string;
  targetHandle?: string;
  type?: EdgeKind;
  [key: string]: unknown;
}

export interface SegmentGroup {
  id: string;
  headNodeId: string;
  tailNodeId: string;
  [key: string]: unknown;
}

export interface Graph {
  name?: string;
  description?: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
  presets?: PresetDefinition[];
  segmentGroups?: SegmentGroup[];
  format_version?: number;
  nodeloom?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface ExposedPort {
  name: string;
  internal_node: string;
  internal_port: string;
  data_type: PortType;
  description: string;
}

export interface ExposedParam {
  internal_node: string;
  param_name: string;
  display_name: string;
  group: string;
  param_def: ParamDefinition | null;
}

export interface PresetDefinition {
  preset_name: string;
  category: string;
  description: string;
  tags: string[];
  source?: string;
  available?: boolean;
  error?: string | null;
  nodes: Array<{ id: string; type: string; params: Record<string, unknown>; internalParams?: Record<string, Record<string, unknown>> }>;
  edges: Array<{ source: string; sourceHandle: string; target: string; targetHandle: string }>;
  exposed_inputs: ExposedPort[];
  exposed_outputs: ExposedPort[];
  exposed_params: ExposedParam[];
}

export interface ValidationIssue {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  node_id: string | null;
  edge_id: string | null;
  port: string | null;
  param: string | null;
  draft: boolean;
}

export interface ValidationReport {
  valid: boolean;
  errors: string[];
  warnings: string[];
  issues: ValidationIssue[];
}

// §4.6: one entry per output port not starting with "__".
export type OutputValueSummary =
  | {
      type: 'tensor';
      shape: number[];
      dtype: string;
      min?: number | null;
      max?: number | null;
      mean?: number | null;
      nan_count?: number;
      inf_count?: number;
      values?: unknown;
    }
  | { type: 'model'; class: string; params: number; trainable: number }
  | { type: 'scalar'; value: number | boolean | null; nonfinite?: 'nan' | 'inf' | '-inf' }
  | { type: 'string'; value: string; download_path?: string }
  | { type: 'list'; length: number; repr: string; values?: unknown[] }
  | { type: string; repr?: string; [key: string]: unknown };

export type OutputSummary = Record<string, OutputValueSummary>;

// §4.9 progress payloads; anything else a node reports is kept as an open object.
export type ProgressPayload =
  | { event: 'config'; config: Record<string, unknown> }
  | {
      event: 'epoch';
      epoch: number;
      total_epochs: number;
      loss: number | null;
      losses: Array<number | null>;
      lr?: number | null;
      val_loss?: number | null;
      val_losses?: Array<number | null>;
      patience_counter?: number;
      best_epoch?: number;
    }
  | { event: 'batch'; epoch: number; batch: number; total_batches: number | null; loss: number | null }
  | { event: 'map'; index: number; total: number }
  | { event: 'retry'; attempt: number; max_attempts: number; error: string }
  | { event: 'step'; current: number; total: number | null; message: string | null }
  | { text: string; event?: undefined }
  | { event?: string; [key: string]: unknown };

export type ErrorMode = 'fail_fast' | 'continue' | 'retry';

export interface ExecuteOptions {
  run_id?: string;
  record_outputs?: boolean;
  error_mode?: ErrorMode;
  max_retries?: number;
  changed_nodes?: string[];
  verbose_mode?: boolean;
  graph_id?: string;
  weights_persistent?: boolean;
  backward_mode?: boolean;
  auto_backward?: boolean;
  grad_health?: Partial<Record<'vanish_norm' | 'vanish_mean' | 'explode_norm' | 'explode_max', number>>;
  device?: string;
  seed?: number | null;
  max_workers?: number;
  module_mode?: 'train' | 'eval';
  timeout_s?: number | null;
  cancel_grace_s?: number;
}

export type RunState = 'running' | 'completed' | 'error' | 'stopped';

interface RunEventBase {
  run_id: string;
  seq: number;
}

export interface NodeStatusBase extends RunEventBase {
  type: 'node_status';
  node_id: string;
  member?: string;
}

export type NodeStatusEvent =
  | (NodeStatusBase & { status: 'running' })
  | (NodeStatusBase & {
      status: 'completed' | 'cached';
      output_summary?: OutputSummary;
      log?: string;
      image?: string;
      elapsed_ms?: number;
    })
  | (NodeStatusBase & { status: 'skipped'; reason: string })
  | (NodeStatusBase & {
      status: 'error';
      error: string;
      error_type: string;
      code: string;
      attempts: number;
      traceback?: string;
    })
  | (NodeStatusBase & { status: 'progress'; progress: ProgressPayload });

export type ServerEvent =
  | { type: 'connected'; protocol: number; version: string; generation: number }
  | (RunEventBase & {
      type: 'execution_start';
      generation: number;
      device: string;
      seed: number;
      graph_id: string;
      record_outputs: boolean;
      warnings: string[];
    })
  | NodeStatusEvent
  | (RunEventBase & { type: 'execution_complete'; elapsed_ms: number; failed_nodes: string[]; warnings: string[] })
  | (RunEventBase & { type: 'execution_error'; error: string; node_id: string | null; errors: string[]; warnings: string[] })
  | {
      type: 'execution_stopped';
      run_id: string | null;
      // Absent on the reply to a stop with nothing running (§3.3).
      seq?: number;
      reason: 'stop' | 'superseded' | 'disconnect' | 'timeout' | 'shutdown' | 'not_running';
      warnings?: string[];
    }
  | {
      type: 'attached';
      run_id: string;
      state: RunState;
      first_seq: number;
      last_seq: number;
      gap: boolean;
      owner: boolean;
    }
  | { type: 'cache_cleared' }
  | { type: 'pong' }
  | {
      type: 'error';
      code: string;
      error: string;
      action: string | null;
      run_id?: string;
      details?: unknown[];
    }
  | { type: 'registry_changed'; generation: number };

export type ServerEventType = ServerEvent['type'];
