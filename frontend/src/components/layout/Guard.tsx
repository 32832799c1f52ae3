/** Route guard: sign-in when the server wants a token, staff pages for operators and admins only, admin pages for admins. */
import { useEffect } from "react";
import { Link, Navigate, useLocation } from "react-router";
import { useAuth } from "../../hooks/useAuth";
import type { PageDef } from "../../routes/types";

export function Guard({ page }: { page: PageDef }) {
  const auth = useAuth();
  const loc = useLocation();
  useEffect(() => {
    document.title = `${page.title} · Support`;
  }, [page.title]);

  const Page = page.component;
  if (page.public) return <Page />;
  const next = encodeURIComponent(loc.pathname + loc.search);
  if (auth.unauthorized || (auth.authRequired && !auth.token)) return <Navigate to={`/login?next=${next}`} replace />;
  if ((page.staff && !auth.isStaff) || (page.admin && !auth.isAdmin)) {
    if (auth.roleLoading) return <p className="page muted">Loading…</p>;
    return (
      <div className="page page--narrow">
        <h1>{page.title}</h1>
        <p>{page.admin ? "This page is for admins." : "This page is for support operators and admins."}</p>
        <p>
          <Link to={`/login?next=${next}`}>{page.admin ? "Sign in with an admin token" : "Sign in with an operator token"}</Link>
        </p>
      </div>
    );
  }
  return <Page />;
}
