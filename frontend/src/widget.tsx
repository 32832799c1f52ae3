/**
 * The embeddable widget: one tag on any site opens a floating chat button.
 *
 *   <script src="https://support.example.com/widget.js"
 *           data-server="https://support.example.com" data-token="CUSTOMER_JWT"></script>
 *
 * `data-server` defaults to where the script came from; `data-token` is a
 * customer token (omit it against a server without AUTH_SECRET); `data-title`
 * names the panel. It renders inside a shadow root, so the host page's CSS and
 * ours never mix. The thread id is kept in the host's localStorage, so a reload
 * rejoins the same conversation. `window.SupportAgentWidget.mount({...})` does
 * the same from code.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import { createRoot, type Root } from "react-dom/client";
import { ChatPanel } from "./components/chat/ChatPanel";
import { ChatIcon, CloseIcon } from "./components/chat/icons";
import { startThread } from "./hooks/useThread";
import { newThreadId } from "./lib/ids";
import { SocketProvider } from "./providers/SocketProvider";
import css from "./styles.css?inline";

export interface WidgetOptions {
  server: string;
  token?: string | null;
  title?: string;
  /** Open the panel at once. */
  open?: boolean;
}

function storageKey(server: string): string {
  return `support-agent:widget-thread:${server}`;
}

function readThread(server: string): string | null {
  try {
    return localStorage.getItem(storageKey(server));
  } catch {
    return null;
  }
}

function writeThread(server: string, id: string | null) {
  try {
    if (id) localStorage.setItem(storageKey(server), id);
    else localStorage.removeItem(storageKey(server));
  } catch {
    /* storage disabled: the thread lasts for this page */
  }
}

function Widget({ server, token, title = "Support", open: openAtStart = false }: WidgetOptions) {
  const [open, setOpen] = useState(openAtStart);
  const [everOpened, setEverOpened] = useState(openAtStart);
  const [threadId, setThreadId] = useState<string | null>(() => readThread(server));
  const launcher = useRef<HTMLButtonElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  const onStartThread = useCallback(
    (first: string) => {
      const id = newThreadId();
      startThread(id, first);
      writeThread(server, id);
      setThreadId(id);
    },
    [server],
  );

  useEffect(() => {
    if (open) panel.current?.querySelector<HTMLTextAreaElement>("textarea")?.focus();
  }, [open]);

  function toggle(next: boolean) {
    setOpen(next);
    if (next) setEverOpened(true);
    else launcher.current?.focus();
  }

  return (
    <div className="widget">
      {everOpened ? (
        <SocketProvider serverUrl={server} token={token ?? null}>
          <div
            ref={panel}
            id="support-agent-panel"
            className="widget__panel"
            role="dialog"
            aria-label={title}
            hidden={!open}
            onKeyDown={(e) => {
              if (e.key === "Escape") toggle(false);
            }}
          >
            <button type="button" className="widget__close icon-btn" aria-label="Close the chat" onClick={() => toggle(false)}>
              <CloseIcon />
            </button>
            <ChatPanel
              title={title}
              threadId={threadId}
              onStartThread={onStartThread}
              onNewConversation={() => {
                writeThread(server, null);
                setThreadId(null);
              }}
            />
          </div>
        </SocketProvider>
      ) : null}
      <button
        ref={launcher}
        type="button"
        className="widget__launcher"
        aria-expanded={open}
        aria-controls="support-agent-panel"
        onClick={() => toggle(!open)}
        data-testid="widget-launcher"
      >
        {open ? <CloseIcon /> : <ChatIcon />}
        <span className="visually-hidden">{open ? "Close the support chat" : "Open the support chat"}</span>
      </button>
    </div>
  );
}

let mounted: { root: Root; host: HTMLElement } | null = null;

export function mount(opts: WidgetOptions): () => void {
  unmount();
  const host = document.createElement("div");
  host.setAttribute("data-support-agent-widget", "");
  document.body.appendChild(host);
  const shadow = host.attachShadow({ mode: "open" });
  const style = document.createElement("style");
  style.textContent = css;
  shadow.appendChild(style);
  const container = document.createElement("div");
  container.className = "widget-root";
  shadow.appendChild(container);
  const root = createRoot(container);
  root.render(<Widget {...opts} server={opts.server.replace(/\/$/, "")} />);
  mounted = { root, host };
  return unmount;
}

export function unmount(): void {
  if (!mounted) return;
  mounted.root.unmount();
  mounted.host.remove();
  mounted = null;
}

declare global {
  interface Window {
    SupportAgentWidget?: { mount: typeof mount; unmount: typeof unmount };
  }
}

// Auto-mount from the <script> tag's data attributes.
const script = document.currentScript as HTMLScriptElement | null;
window.SupportAgentWidget = { mount, unmount };
if (script && script.dataset.autoMount !== "false") {
  const server = script.dataset.server || new URL(script.src, location.href).origin;
  const start = () => mount({ server, token: script.dataset.token || null, title: script.dataset.title, open: script.dataset.open === "true" });
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
}
