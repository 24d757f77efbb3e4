import type { Resolver } from '../net/egress.ts';
import type { AssetManifest } from './assets.ts';
import type { Approver, KernelClient } from './kernel-client.ts';
import type { History } from './history.ts';
import type { WebStore } from './store.ts';
import type { CookiePolicy, Session } from './sessions.ts';
import type { ConnectFlow } from './connect-flow.ts';

/** What every route of the web app is built from; made once in createApprovalWeb. */
export interface WebDeps {
  /** The web app's own tables, through the `webdb` endpoint (approval-web/store.ts): never a database handle. */
  store: WebStore;
  kernel: KernelClient;
  publicUrl: string;
  /** The origin passkeys are bound to and that every state-changing request must come from. */
  origin: string;
  rpId: string;
  sandbox: boolean;
  sessionCookie: CookiePolicy;
  csrfCookie: CookiePolicy;
  /** Requests each approver has seen, for the inbox's history section. */
  history: History;
  /** The VAPID public key for Web Push subscriptions; null when push is off. */
  vapidPublicKey: string | null;
  /** Tests only: DNS resolution for checking push endpoints (default: the system resolver). */
  resolve?: Resolver;
  /** The emails that hold a role (config and directory), to name who may still decide; empty when unknown. */
  approversOf: (role: string) => Promise<string[]>;
  /** The built-in OAuth authorization server's consent side; null when `auth: external` (no consent page then). */
  connect: ConnectFlow | null;
}

/** Per-request values the middleware chain sets for pages (Hono `c.var`). */
export interface WebEnv {
  Variables: {
    secureHeadersNonce?: string;
    /** Every screen says SANDBOX when connectors talk to their sandbox upstreams. */
    sandbox: boolean;
    assets: AssetManifest;
    /** The raw session id from the cookie, when it named a live session. */
    sessionId: string | null;
    session: Session | null;
    approver: Approver | null;
    /** The token forms and scripts send back on POST: the session's, or a pre-session one before sign-in. */
    csrfToken: string;
  };
}
