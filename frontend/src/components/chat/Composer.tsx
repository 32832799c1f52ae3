import { useId, useRef, useState, type FormEvent, type KeyboardEvent } from "react";

export interface ComposerProps {
  onSend(text: string): void;
  onStop?(): void;
  running: boolean;
  disabled?: boolean;
  placeholder?: string;
}

const MAX = 10_000;

/** The message box: Enter sends, Shift+Enter adds a line; Stop while an answer streams. */
export function Composer({ onSend, onStop, running, disabled, placeholder }: ComposerProps) {
  const [text, setText] = useState("");
  const id = useId();
  const ref = useRef<HTMLTextAreaElement>(null);
  const tooLong = text.length > MAX;

  function submit(e?: FormEvent) {
    e?.preventDefault();
    const t = text.trim();
    if (!t || tooLong || disabled || running) return;
    onSend(t);
    setText("");
    ref.current?.focus();
  }

  function onKey(e: KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  return (
    <form className="composer" onSubmit={submit}>
      <label htmlFor={id} className="visually-hidden">
        Your message
      </label>
      <textarea
        id={id}
        ref={ref}
        rows={1}
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKey}
        placeholder={placeholder ?? "Write a message…"}
        aria-invalid={tooLong}
        aria-describedby={tooLong ? `${id}-err` : undefined}
        data-testid="composer-input"
      />
      {tooLong ? (
        <span id={`${id}-err`} className="composer__err">
          {text.length - MAX} characters over the limit
        </span>
      ) : null}
      {running && onStop ? (
        <button type="button" className="btn btn--ghost" onClick={onStop}>
          Stop
        </button>
      ) : null}
      <button type="submit" className="btn btn--primary" disabled={!text.trim() || tooLong || disabled || running} data-testid="send">
        Send
      </button>
    </form>
  );
}
