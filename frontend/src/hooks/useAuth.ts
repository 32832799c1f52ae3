/** Auth in one hook: the token, and the role and user the server gave us. */
import { isStaff } from "../lib/auth";
import type { Role } from "../lib/protocol";
import { useAuthContext } from "../providers/AuthProvider";
import { useSocket } from "../providers/SocketProvider";

export function useAuth() {
  const auth = useAuthContext();
  const { connected, state } = useSocket();
  const role: Role | null = connected?.role ?? auth.claims?.role ?? null;
  const userId: string | null = connected?.user_id ?? auth.claims?.sub ?? null;
  return {
    ...auth,
    role,
    userId,
    isStaff: isStaff(role),
    isAdmin: role === "admin",
    /** Role not known yet: connecting, and no token to read it from. */
    roleLoading: !role && (state === "connecting" || state === "reconnecting" || state === "idle"),
    unauthorized: state === "unauthorized",
  };
}
