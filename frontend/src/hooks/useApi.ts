/** Load a REST resource; optional polling; keeps the last good data on error. */
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../lib/api";
import { useSocket } from "../providers/SocketProvider";
import type { ApiClient } from "../lib/api";

export interface ApiState<T> {
  data: T | null;
  error: string | null;
  status: number | null;
  loading: boolean;
  reload: () => void;
}

export function useApi<T>(load: ((api: ApiClient) => Promise<T>) | null, deps: unknown[], pollMs?: number): ApiState<T> {
  const { api } = useSocket();
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<number | null>(null);
  const [loading, setLoading] = useState<boolean>(!!load);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => setTick((t) => t + 1), []);

  useEffect(() => {
    const fn = loadRef.current;
    if (!fn) return;
    let alive = true;
    setLoading(true);
    fn(api)
      .then((d) => {
        if (!alive) return;
        setData(d);
        setError(null);
        setStatus(200);
      })
      .catch((e: unknown) => {
        if (!alive) return;
        setError(e instanceof Error ? e.message : String(e));
        setStatus(e instanceof ApiError ? e.status : null);
      })
      .finally(() => alive && setLoading(false));
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, tick, ...deps]);

  useEffect(() => {
    if (!pollMs) return;
    const t = setInterval(() => {
      if (typeof document === "undefined" || document.visibilityState !== "hidden") setTick((x) => x + 1);
    }, pollMs);
    return () => clearInterval(t);
  }, [pollMs]);

  return { data, error, status, loading, reload };
}
