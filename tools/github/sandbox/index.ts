import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRoutes, type Route } from './routes.ts';
import { SandboxState } from './state.ts';
import { fail, type Body, type Reply } from './wire.ts';
import { writeRoutes } from './writes.ts';
import { sandboxFile } from '../../sandbox-file.ts';

export { SandboxState, fakeSha } from './state.ts';
export { SEED } from './seed.ts';

/** One request as the sandbox received it; the credential is replaced by REDACTED before it is kept. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

/** A failure to answer instead of the real route: the next request (matching `match`, if given) gets it. */
export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: Body;
  match?: { method?: string; path?: string | RegExp };
}

export interface GithubSandbox {
  /** Base URL to give Octokit (`baseUrl`), e.g. http://127.0.0.1:40123 */
  url: string;
  state: SandboxState;
  received: ReceivedRequest[];
  failNext(fault: Fault): void;
  /** Puts the seeded story back (acme/web as first seen) and forgets the saved state. */
  reset(): void;
  close(): Promise<void>;
}

const ROUTES: Route[] = [...readRoutes, ...writeRoutes];
const DEFAULT_MESSAGES: Record<number, string> = {
  401: 'Bad credentials', 403: 'Resource not accessible by integration', 404: 'Not Found', 409: 'Conflict',
  422: 'Validation Failed', 429: 'API rate limit exceeded', 500: 'Server Error', 502: 'Server Error', 503: 'Service Unavailable',
};

/**
 * Starts a local stand-in for api.github.com that speaks its REST wire format for the endpoints the GitHub connector
 * uses, seeded with acme/web. Every response carries `x-countersign-sandbox: true`.
 * @example const sandbox = await startGithubSandbox(); createGithubConnector({ baseUrl: sandbox.url, sandbox: true });
 */
export async function startGithubSandbox(options: { port?: number; stateFile?: string } = {}): Promise<GithubSandbox> {
  const state = new SandboxState();
  // With a file (countersign start: COUNTERSIGN_HOME/sandbox/), the world survives restarts; every write saves it.
  const persisted = sandboxFile(options.stateFile, { state }, () => ({ state: new SandboxState() }));
  const received: ReceivedRequest[] = [];
  const faults: Fault[] = [];
  let used = 0;
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') res.once('finish', () => persisted.save());
    void handle(req, res).catch((error: unknown) => send(res, fail(500, `sandbox error: ${String(error)}`)));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
    const method = req.method ?? 'GET';
    const raw = await readBody(req);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = k === 'authorization' ? 'REDACTED' : String(v);
    let body: unknown = null;
    try {
      body = raw ? JSON.parse(raw) : null;
    } catch {
      return send(res, fail(400, 'Problems parsing JSON'));
    } finally {
      received.push({ method, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body });
    }
    used += 1;
    const faultAt = faults.findIndex((f) => matches(f, method, url.pathname));
    if (faultAt >= 0) {
      const [fault] = faults.splice(faultAt, 1);
      const reply = fault.body !== undefined ? { status: fault.status, body: fault.body } : fail(fault.status, DEFAULT_MESSAGES[fault.status] ?? 'Error');
      return send(res, { ...reply, headers: fault.headers }, used);
    }
    const token = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return send(res, fail(401, 'Requires authentication'), used);
    send(res, route(method, url, body), used);
  }

  function route(method: string, url: URL, body: unknown): Reply {
    const segments = url.pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
    for (const r of ROUTES) {
      if (r.method !== method) continue;
      const params = match(r.pattern, segments);
      if (!params) continue;
      const repo = params.owner ? state.repo(params.owner, params.repo) : undefined;
      if (params.owner && !repo) return fail(404, 'Not Found');
      const input = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
      return r.handle({ state, params, url, body: input, user: 'acme-bot' }, repo!);
    }
    if (method === 'GET' && segments[0] === 'users' && segments.length === 2) {
      const user = state.users.get(segments[1]);
      return user ? { status: 200, body: { login: user.login, id: user.id, name: user.name, type: 'User', html_url: `https://github.com/${user.login}` } } : fail(404, 'Not Found');
    }
    return fail(404, 'Not Found');
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    received,
    failNext: (fault) => void faults.push(fault),
    reset: () => persisted.reset(),
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}

function matches(fault: Fault, method: string, path: string): boolean {
  const m = fault.match;
  if (!m) return true;
  if (m.method && m.method.toUpperCase() !== method) return false;
  if (typeof m.path === 'string') return m.path === path;
  return m.path ? m.path.test(path) : true;
}

function match(pattern: string, segments: string[]): Record<string, string> | null {
  const parts = pattern.split('/').filter(Boolean);
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    if (part.startsWith('*')) {
      if (i >= segments.length) return null;
      params[part.slice(1)] = segments.slice(i).join('/');
      return params;
    }
    if (i >= segments.length) return null;
    if (part.startsWith(':')) params[part.slice(1)] = segments[i];
    else if (part !== segments[i]) return null;
  }
  return parts.length === segments.length ? params : null;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, reply: Reply, used = 0): void {
  const headers: Record<string, string> = {
    'x-countersign-sandbox': 'true',
    'x-github-api-version-selected': '2022-11-28',
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': String(Math.max(0, 5000 - used)),
    'x-ratelimit-used': String(used),
    'x-ratelimit-reset': String(Math.floor(Date.now() / 1000) + 3600),
    'x-ratelimit-resource': 'core',
    ...(reply.body === null ? {} : { 'content-type': 'application/json; charset=utf-8' }),
    ...reply.headers,
  };
  res.writeHead(reply.status, headers);
  res.end(reply.body === null ? undefined : JSON.stringify(reply.body));
}
