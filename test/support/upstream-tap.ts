import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A tap between a server under test and a sandbox upstream, in the test process, so it outlives the server: it
 * forwards every request to `target` and can hold one request at a chosen moment so the test can kill the server
 * there. `before`: the request has not reached the sandbox (the test then drops it, or forwards it after the kill,
 * so it lands while the server is dead). `after`: the sandbox has done it and answered, and the answer has not
 * reached the server yet. Every write the sandbox accepted (2xx, not an idempotent replay) is kept in `effects`.
 */
export interface Tapped {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface Held {
  request: Tapped;
  /** `before`: send it on to the sandbox now (its answer goes to the server if it is still connected). `after`: relay the answer. */
  release(): Promise<void>;
  /** Close the server's connection without forwarding (before) or relaying (after). */
  drop(): void;
}

export interface Effect extends Tapped {
  status: number;
}

export interface UpstreamTap {
  url: string;
  /** Where requests go; a test may point the tap at a fresh sandbox between cases. */
  target: string;
  effects: Effect[];
  /** Holds the next request that `match` accepts, at `phase`; resolves when it is held. */
  holdNext(match: (request: Tapped) => boolean, phase: 'before' | 'after'): Promise<Held>;
  close(): Promise<void>;
}

export async function startUpstreamTap(target: string): Promise<UpstreamTap> {
  const effects: Effect[] = [];
  const traps: { match: (r: Tapped) => boolean; phase: 'before' | 'after'; held: (h: Held) => void }[] = [];
  const tap = { target };

  async function forward(request: Tapped): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
    const headers = { ...request.headers };
    delete headers.host;
    delete headers['content-length'];
    delete headers.connection;
    const sent = request.method === 'GET' || request.method === 'HEAD' ? undefined : request.body;
    const response = await fetch(tap.target + request.path, { method: request.method, headers, body: sent });
    const body = Buffer.from(await response.arrayBuffer());
    const out: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      if (name !== 'content-encoding' && name !== 'transfer-encoding' && name !== 'connection') out[name] = value;
    });
    if (request.method !== 'GET' && response.status < 300 && out['idempotent-replayed'] !== 'true') effects.push({ ...request, status: response.status });
    return { status: response.status, headers: out, body };
  }

  const relay = (res: ServerResponse, answer: { status: number; headers: Record<string, string>; body: Buffer }) => {
    if (res.destroyed) return;
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) });
    res.end(answer.body);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    const request: Tapped = { method: req.method ?? 'GET', path: req.url ?? '/', headers, body: Buffer.concat(chunks).toString('utf8') };
    const at = traps.findIndex((t) => t.match(request));
    const trap = at >= 0 ? traps.splice(at, 1)[0]! : null;
    const drop = () => res.destroy();
    if (trap?.phase === 'before') {
      trap.held({ request, drop, release: async () => relay(res, await forward(request)) });
      return;
    }
    const answer = await forward(request);
    if (trap?.phase === 'after') trap.held({ request, drop, release: async () => relay(res, answer) });
    else relay(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) res.writeHead(502).end(`tap: ${String(error)}`);
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get target() {
      return tap.target;
    },
    set target(value: string) {
      tap.target = value;
    },
    effects,
    holdNext: (match, phase) => new Promise<Held>((held) => traps.push({ match, phase, held })),
    close: () => new Promise<void>((ok) => { server.closeAllConnections(); server.close(() => ok()); }),
  };
}
