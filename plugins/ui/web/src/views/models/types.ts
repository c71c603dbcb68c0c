// Shapes of api.md §2.8.

export type ModelSource =
  | { type: 'huggingface'; repo_id: string; url?: string; filename: string; revision?: string }
  | { type: 'url'; url: string }
  | { type: 'upload' };

export interface ModelItem {
  id: string;
  name: string;
  category: string;
  source: ModelSource;
  installed: boolean;
  filename: string | null;
  size: number | null;
}

export type JobStatus = 'running' | 'completed' | 'error';

export interface DownloadJob {
  success: boolean;
  job_id: string;
  model_id: string;
  status: JobStatus;
  progress: number;
  message: string;
  bytes_done: number;
  bytes_total: number | null;
  filename: string | null;
}

export interface DownloadStart {
  success: boolean;
  job_id: string;
  model_id: string;
  status: JobStatus;
}
