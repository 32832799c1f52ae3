/**
 * Who is signed in. Without AUTH_SECRET the server treats everyone as `local`
 * (admin) and no token is needed; with it, a pasted JWT is kept in localStorage.
 * `authRequired` turns true when the server refuses us (socket close 4001, REST
 * 401), which sends the app to the sign-in page.
 */
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { decodeToken, isExpired, loadToken, saveToken, type TokenClaims } from "../lib/auth";

export interface Health {
  status?: string;
  version?: string;
  database?: string;
  auth?: boolean | string;
  auth_enabled?: boolean;
  auth_required?: boolean;
  [key: string]: unknown;
}

export interface AuthContextValue {
  token: string | null;
  claims: TokenClaims | null;
  health: Health | null;
  /** True when the server is known to need a token. */
  authRequired: boolean;
  /** Set when the server refused the current token (or the missing one). */
  authProblem: string | null;
  signIn(token: string): void;
  signOut(): void;
  reportAuthError(message: string): void;
}

const AuthContext = createContext<AuthContextValue | null>(null);

function healthNeedsAuth(h: Health | null): boolean {
  if (!h) return false;
  if (typeof h.auth_required === "boolean") return h.auth_required;
  if (typeof h.auth_enabled === "boolean") return h.auth_enabled;
  if (typeof h.auth === "boolean") return h.auth;
  if (typeof h.auth === "string") return h.auth !== "none" && h.auth !== "local";
  return false;
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [token, setToken] = useState<string | null>(() => {
    const t = loadToken();
    return t && !isExpired(decodeToken(t)) ? t : null;
  });
  const [health, setHealth] = useState<Health | null>(null);
  const [authProblem, setAuthProblem] = useState<string | null>(null);

  useEffect(() => {
    let alive = true;
    fetch("/api/health", { headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((h: Health) => alive && setHealth(h))
      .catch(() => undefined);
    return () => {
      alive = false;
    };
  }, []);

  const signIn = useCallback((t: string) => {
    const clean = t.trim();
    saveToken(clean);
    setAuthProblem(null);
    setToken(clean);
  }, []);
  const signOut = useCallback(() => {
    saveToken(null);
    setToken(null);
  }, []);
  const reportAuthError = useCallback((message: string) => setAuthProblem(message), []);

  const value = useMemo<AuthContextValue>(
    () => ({
      token,
      claims: token ? decodeToken(token) : null,
      health,
      authRequired: healthNeedsAuth(health) || authProblem !== null,
      authProblem,
      signIn,
      signOut,
      reportAuthError,
    }),
    [token, health, authProblem, signIn, signOut, reportAuthError],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuthContext(): AuthContextValue {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuthContext() must be used inside <AuthProvider>");
  return ctx;
}
