/**
 * One SupportSocket and one REST client per tab (or per widget). `useSocket()`
 * throws outside the provider, so a component can never talk to a socket that
 * does not exist.
 */
import { createContext, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { createApi, type ApiClient } from "../lib/api";
import type { ConnectedFrame } from "../lib/protocol";
import { SupportSocket, type ConnectionState, type WebSocketFactory } from "../lib/socket";

export interface SocketContextValue {
  socket: SupportSocket;
  api: ApiClient;
  state: ConnectionState;
  /** Words about the last close, e.g. why the token was refused. */
  detail?: string;
  connected: ConnectedFrame | null;
  retryInMs: number | null;
}

const SocketContext = createContext<SocketContextValue | null>(null);

export interface SocketProviderProps {
  /** Server address: "" for this origin, or `https://support.example.com` (the widget). */
  serverUrl?: string;
  token: string | null;
  onAuthError?: (status: 401 | 403, message: string) => void;
  createSocket?: WebSocketFactory;
  children: ReactNode;
}

export function SocketProvider({ serverUrl = "", token, onAuthError, createSocket, children }: SocketProviderProps) {
  const socket = useMemo(
    () => new SupportSocket({ url: serverUrl ? serverUrl : "/ws", token, createSocket }),
    // The token is applied with setToken below; a new server means a new socket.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [serverUrl, createSocket],
  );
  const [state, setState] = useState<ConnectionState>(socket.state);
  const [detail, setDetail] = useState<string | undefined>();
  const [connected, setConnected] = useState<ConnectedFrame | null>(null);

  const tokenRef = useRef(token);
  tokenRef.current = token;
  const authErrorRef = useRef(onAuthError);
  authErrorRef.current = onAuthError;

  const api = useMemo(
    () => createApi({ baseUrl: serverUrl, getToken: () => tokenRef.current, onAuthError: (s, m) => authErrorRef.current?.(s, m) }),
    [serverUrl, tokenRef, authErrorRef],
  );

  useEffect(() => {
    const offState = socket.onState((s, d) => {
      setState(s);
      setDetail(d);
    });
    const offFrame = socket.onFrame((f) => {
      if (f.type === "connected") setConnected(f);
    });
    socket.connect();
    const online = () => socket.reconnectNow();
    window.addEventListener("online", online);
    return () => {
      offState();
      offFrame();
      window.removeEventListener("online", online);
      socket.close();
    };
  }, [socket]);

  const [firstToken] = useState(token);
  useEffect(() => {
    if (token === firstToken && socket.state !== "unauthorized") return;
    setConnected(null);
    socket.setToken(token);
  }, [socket, token, firstToken]);

  const value = useMemo<SocketContextValue>(
    () => ({ socket, api, state, detail, connected, retryInMs: state === "reconnecting" ? socket.nextRetryMs : null }),
    [socket, api, state, detail, connected],
  );
  return <SocketContext.Provider value={value}>{children}</SocketContext.Provider>;
}

export function useSocket(): SocketContextValue {
  const ctx = useContext(SocketContext);
  if (!ctx) throw new Error("useSocket() must be used inside <SocketProvider>");
  return ctx;
}
