/** Token storage and a JWT peek (no verification: the server verifies). */
import type { Role } from "./protocol";

const KEY = "support-agent:token";

export interface TokenClaims {
  sub?: string;
  role?: Role;
  exp?: number;
}

export function loadToken(): string | null {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function saveToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(KEY, token);
    else localStorage.removeItem(KEY);
  } catch {
    /* storage disabled: the token lives for this page only */
  }
}

export function decodeToken(token: string): TokenClaims | null {
  const parts = token.trim().split(".");
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const claims = JSON.parse(json) as unknown;
    return typeof claims === "object" && claims !== null ? (claims as TokenClaims) : null;
  } catch {
    return null;
  }
}

export function isExpired(claims: TokenClaims | null, nowMs = Date.now()): boolean {
  return !!claims?.exp && claims.exp * 1000 <= nowMs;
}

export function isStaff(role: Role | null | undefined): boolean {
  return role === "operator" || role === "admin";
}
