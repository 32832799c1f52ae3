import type { ComponentType } from "react";

/** One page of the app: add a file that exports one of these, then list it in routes/index.ts. */
export interface PageDef {
  path: string;
  title: string;
  component: ComponentType;
  /** Shown in the top navigation under this label. */
  nav?: string;
  /** Only operators and admins. */
  staff?: boolean;
  /** Only admins (implies staff). */
  admin?: boolean;
  /** Reachable without a sign-in even when the server needs one. */
  public?: boolean;
}
