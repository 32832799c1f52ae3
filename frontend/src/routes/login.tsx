/** `/login`: paste a token (a JWT signed with the server's AUTH_SECRET). */
import { useId, useState, type FormEvent } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { decodeToken, isExpired } from "../lib/auth";
import { useAuth } from "../hooks/useAuth";
import type { PageDef } from "./types";

function LoginPage() {
  const auth = useAuth();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [value, setValue] = useState("");
  const [error, setError] = useState<string | null>(null);
  const id = useId();

  function submit(e: FormEvent) {
    e.preventDefault();
    const t = value.trim();
    const claims = decodeToken(t);
    if (!claims) return setError("That does not look like a token. Paste the whole token, three parts separated by dots.");
    if (isExpired(claims)) return setError("That token has expired. Ask for a new one.");
    auth.signIn(t);
    navigate(params.get("next") || (claims.role === "operator" || claims.role === "admin" ? "/inbox" : "/"), { replace: true });
  }

  return (
    <div className="page page--narrow">
      <h1>Sign in</h1>
      {auth.authProblem ? (
        <p className="banner banner--error" role="alert">
          {auth.authProblem}
        </p>
      ) : null}
      <form onSubmit={submit} className="card stack">
        <label htmlFor={id} className="field-label">
          Access token
        </label>
        <textarea
          id={id}
          rows={4}
          value={value}
          onChange={(e) => {
            setValue(e.target.value);
            setError(null);
          }}
          aria-invalid={!!error}
          aria-describedby={`${id}-help${error ? ` ${id}-err` : ""}`}
          spellCheck={false}
          autoComplete="off"
          data-testid="token-input"
        />
        <p id={`${id}-help`} className="muted small">
          Your administrator gives you a token (for example with <code>support-agent token --user ID --role operator</code>). It is kept in
          this browser only.
        </p>
        {error ? (
          <p id={`${id}-err`} className="field-error" role="alert">
            {error}
          </p>
        ) : null}
        <div className="btn-row">
          <button type="submit" className="btn btn--primary">
            Sign in
          </button>
          {auth.token ? (
            <button type="button" className="btn btn--ghost" onClick={() => auth.signOut()}>
              Sign out
            </button>
          ) : null}
        </div>
      </form>
    </div>
  );
}

export const loginPage: PageDef = { path: "/login", title: "Sign in", component: LoginPage, public: true };
