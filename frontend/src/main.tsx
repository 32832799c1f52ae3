/** The app: auth, one socket per tab, the router. */
import { createRoot } from "react-dom/client";
import { createBrowserRouter, RouterProvider } from "react-router";
import { Guard } from "./components/layout/Guard";
import { Layout } from "./components/layout/Layout";
import { AuthProvider, useAuthContext } from "./providers/AuthProvider";
import { SocketProvider } from "./providers/SocketProvider";
import { pages } from "./routes";
import "./styles.css";

const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      ...pages.map((p) => ({ path: p.path, element: <Guard page={p} /> })),
      { path: "*", element: <NotFound /> },
    ],
  },
]);

function NotFound() {
  return (
    <div className="page page--narrow">
      <h1>Page not found</h1>
      <p>
        <a href="/">Back to the chat</a>
      </p>
    </div>
  );
}

function App() {
  const auth = useAuthContext();
  return (
    <SocketProvider token={auth.token} onAuthError={(status, msg) => status === 401 && auth.reportAuthError(msg)}>
      <RouterProvider router={router} />
    </SocketProvider>
  );
}

createRoot(document.getElementById("root")!).render(
  <AuthProvider>
    <App />
  </AuthProvider>,
);
