import { useCallback, useEffect, useRef, useState } from 'react';

export interface Resource<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => Promise<void>;
}

/**
 * Loads something on mount and whenever `key` changes; `reload` is what views call after a
 * mutation. Answers that arrive after a newer request started are dropped, so a slow early
 * listing can never overwrite a fresh one.
 */
export function useResource<T>(load: () => Promise<T>, key: string = ''): Resource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const latest = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(async () => {
    const ticket = ++latest.current;
    setLoading(true);
    try {
      const value = await loadRef.current();
      if (ticket !== latest.current) return;
      setData(value);
      setError(null);
    } catch (e) {
      if (ticket !== latest.current) return;
      setError(e);
    } finally {
      if (ticket === latest.current) setLoading(false);
    }
  }, []);

  useEffect(() => {
    void reload();
    return () => {
      // Invalidate in-flight answers of an unmounted view.
      latest.current += 1;
    };
  }, [reload, key]);

  return { data, error, loading, reload };
}
