/** The app shell: skip link, top navigation filtered by role, sign-in state, the page. */
import { NavLink, Outlet } from "react-router";
import { useAuth } from "../../hooks/useAuth";
import { pages } from "../../routes";

export function Layout() {
  const auth = useAuth();
  const nav = pages.filter((p) => p.nav && (!p.staff || auth.isStaff) && (!p.admin || auth.isAdmin));
  return (
    <div className="shell">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand" aria-label="Support home">
          <span className="brand__mark" aria-hidden="true">
            ◆
          </span>
          <span className="brand__text"> Support</span>
        </NavLink>
        <nav aria-label="Main" className="topnav">
          <ul>
            {nav.map((p) => (
              <li key={p.path}>
                <NavLink to={p.path} end={p.path === "/"}>
                  {p.nav}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="topbar__user">
          {auth.userId ? (
            <span className="muted small" data-testid="whoami">
              {auth.userId}
              {auth.role ? ` · ${auth.role}` : ""}
            </span>
          ) : null}
          {auth.token ? (
            <button type="button" className="link-btn" onClick={() => auth.signOut()}>
              Sign out
            </button>
          ) : auth.authRequired || auth.unauthorized ? (
            <NavLink to="/login">Sign in</NavLink>
          ) : null}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
