/**
 * REST client: JSON in and out under /api, with the token as a Bearer header.
 * A 401 or 403 from any call is announced once through `onAuthError`, which the
 * app wires to its sign-in flow.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, message: string, body: unknown) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export interface ApiClient {
  get<T>(path: string, params?: Record<string, string | number | boolean | undefined | null>): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  patch<T>(path: string, body?: unknown): Promise<T>;
  del<T>(path: string): Promise<T>;
  /** POST a file or other raw body as it is, with its own Content-Type (no JSON encoding). */
  upload<T>(path: string, body: Blob, contentType: string): Promise<T>;
}

export interface ApiOptions {
  baseUrl?: string;
  getToken: () => string | null;
  onAuthError?: (status: 401 | 403, message: string) => void;
  fetchImpl?: typeof fetch;
}

function errorText(body: unknown, status: number): string {
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    if (typeof b.error === "string") return b.error;
    if (typeof b.detail === "string") return b.detail;
    if (Array.isArray(b.detail)) return b.detail.map((d) => (d as { msg?: string }).msg ?? "").join("; ");
  }
  return `Request failed (${status})`;
}

export function createApi(opts: ApiOptions): ApiClient {
  const base = (opts.baseUrl ?? "").replace(/\/$/, "");
  const doFetch = opts.fetchImpl ?? ((...a: Parameters<typeof fetch>) => fetch(...a));

  async function request<T>(method: string, path: string, body?: unknown, raw?: { body: Blob; contentType: string }): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    const token = opts.getToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (raw) headers["Content-Type"] = raw.contentType;
    else if (body !== undefined) headers["Content-Type"] = "application/json";
    let res: Response;
    try {
      res = await doFetch(`${base}${path}`, { method, headers, body: raw ? raw.body : body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, "The server cannot be reached. Check your connection.", null);
    }
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const msg = errorText(parsed, res.status);
      if (res.status === 401 || res.status === 403) opts.onAuthError?.(res.status, msg);
      throw new ApiError(res.status, msg, parsed);
    }
    return parsed as T;
  }

  return {
    get: (path, params) => {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(params ?? {})) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
      const q = qs.toString();
      return request("GET", q ? `${path}?${q}` : path);
    },
    post: (path, body) => request("POST", path, body ?? {}),
    patch: (path, body) => request("PATCH", path, body ?? {}),
    del: (path) => request("DELETE", path),
    upload: (path, body, contentType) => request("POST", path, undefined, { body, contentType }),
  };
}

/** A list answer as an array, whether the server sends `[...]`, `{data: [...]}` or `{items: [...]}`. */
export function listOf<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === "object") {
    const b = body as Record<string, unknown>;
    for (const k of ["data", "items", "results", "interrupts", "specs", "threads", "endpoints", "conversations"])
      if (Array.isArray(b[k])) return b[k] as T[];
  }
  return [];
}

export function countOf(body: unknown, fallback: number): number {
  if (body && typeof body === "object" && !Array.isArray(body)) {
    const b = body as Record<string, unknown>;
    for (const k of ["count", "total"]) if (typeof b[k] === "number") return b[k] as number;
  }
  return fallback;
}
