import { useCallback, useEffect, useRef, useState } from 'react';
import { apiGet, apiSend } from '../../api/http';
import { errorText } from '../common/errors';
import type { DownloadJob, DownloadStart } from './types';

export const POLL_INTERVAL_MS = 1000;

export interface DownloadState {
  status: 'starting' | 'running' | 'completed' | 'error';
  progress: number;
  message: string;
}

/**
 * Starts registry downloads (§2.8.6) and polls their jobs (§2.8.7) until they end. `onFinished`
 * runs after a job completes so the listing can show the new install state.
 */
export function useDownloads(onFinished: () => void) {
  const [jobs, setJobs] = useState<Record<string, DownloadState>>({});
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());
  const alive = useRef(true);
  const finished = useRef(onFinished);
  finished.current = onFinished;

  useEffect(() => {
    alive.current = true;
    const pending = timers.current;
    return () => {
      alive.current = false;
      pending.forEach(clearTimeout);
      pending.clear();
    };
  }, []);

  const update = useCallback((id: string, state: DownloadState) => {
    if (alive.current) setJobs((prev) => ({ ...prev, [id]: state }));
  }, []);

  const poll = useCallback(
    (modelId: string, jobId: string) => {
      const timer = setTimeout(async () => {
        timers.current.delete(timer);
        if (!alive.current) return;
        try {
          const job = await apiGet<DownloadJob>(`/api/downloads/status/${encodeURIComponent(jobId)}`);
          update(modelId, { status: job.status, progress: job.progress, message: job.message });
          if (job.status === 'running') poll(modelId, jobId);
          else if (job.status === 'completed') finished.current();
        } catch (e) {
          update(modelId, { status: 'error', progress: 0, message: errorText(e) });
        }
      }, POLL_INTERVAL_MS);
      timers.current.add(timer);
    },
    [update],
  );

  const start = useCallback(
    async (modelId: string) => {
      update(modelId, { status: 'starting', progress: 0, message: 'Starting' });
      try {
        const job = await apiSend<DownloadStart>('POST', `/api/models/download/${encodeURIComponent(modelId)}`);
        if (job.status === 'completed') {
          update(modelId, { status: 'completed', progress: 100, message: 'Already installed' });
          finished.current();
        } else {
          update(modelId, { status: 'running', progress: 0, message: 'Starting' });
          poll(modelId, job.job_id);
        }
      } catch (e) {
        update(modelId, { status: 'error', progress: 0, message: errorText(e) });
      }
    },
    [poll, update],
  );

  return { jobs, start };
}
