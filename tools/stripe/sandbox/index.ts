/**
 * A local Stripe: a node:http server that speaks Stripe's wire format for the endpoints the connector uses,
 * with Stripe's authentication, `Idempotency-Key` replay, `Request-Id` and error bodies. It records every
 * request (authorization redacted) so tests can assert on exactly what went upstream.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { JsonObject } from '../../../kernel/index.ts';
import { SandboxApiError, defaultFailure } from './errors.ts';
import { decodeForm, type FormObject } from './form.ts';
import { route } from './routes.ts';
import { SandboxState } from './state.ts';
import { sandboxFile } from '../../sandbox-file.ts';

export { SEED, SandboxState } from './state.ts';

export interface ReceivedRequest {
  method: string;
  /** Path with its query string. */
  path: string;
  headers: Record<string, string>;
  body: FormObject;
  idempotencyKey: string | null;
}

export interface InjectedFailure {
  status: number;
  body?: JsonObject;
  headers?: Record<string, string>;
}

export interface StripeSandbox {
  /** Base URL, e.g. `http://127.0.0.1:41234`; pass it as the connector's `baseUrl`. */
  url: string;
  state: SandboxState;
  received: ReceivedRequest[];
  /** The next request (whatever it is) gets this response instead of being handled. Queues in call order. */
  failNext(failure: InjectedFailure): void;
  /** Puts the seeded story back and forgets the saved state. */
  reset(): void;
  close(): Promise<void>;
}

interface StoredResponse {
  fingerprint: string;
  status: number;
  body: string;
}

/** Start the sandbox on 127.0.0.1 (`port` 0 or omitted picks a free one). */
export async function startStripeSandbox(options: { port?: number; stateFile?: string } = {}): Promise<StripeSandbox> {
  const state = new SandboxState();
  const received: ReceivedRequest[] = [];
  const failures: InjectedFailure[] = [];
  const idempotent = new Map<string, StoredResponse>();
  // With a file the world survives restarts, and so do stored idempotent responses: a retried write after a restart
  // replays, as Stripe's would, instead of refunding twice.
  const persisted = sandboxFile(options.stateFile, { state, idempotent }, () => ({ state: new SandboxState(), idempotent: new Map<string, StoredResponse>() }));
  let requestCounter = 0;

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') res.once('finish', () => persisted.save());
    readBody(req).then(
      (raw) => {
        requestCounter += 1;
        try {
          handle(req, res, raw, `req_Sbx${String(requestCounter).padStart(10, '0')}`);
        } catch (error) {
          // A sandbox bug must look like Stripe's own 500, not hang the client.
          const message = `Sandbox internal error: ${error instanceof Error ? error.message : String(error)}`;
          send(res, 500, JSON.stringify(new SandboxApiError(500, 'api_error', message).body()));
        }
      },
      () => send(res, 400, JSON.stringify(new SandboxApiError(400, 'invalid_request_error', 'Could not read the request body.').body())),
    );
  });

  function handle(req: IncomingMessage, res: ServerResponse, raw: string, requestId: string): void {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = req.method ?? 'GET';
    const headers = recordedHeaders(req);
    const key = typeof req.headers['idempotency-key'] === 'string' ? req.headers['idempotency-key'] : null;
    const body = decodeForm(raw);
    received.push({ method, path: url.pathname + url.search, headers, body, idempotencyKey: key });
    res.setHeader('Request-Id', requestId);
    res.setHeader('Stripe-Version', typeof req.headers['stripe-version'] === 'string' ? req.headers['stripe-version'] : '2026-10-28.endive');

    const failure = failures.shift();
    if (failure !== undefined) {
      for (const [name, value] of Object.entries(failure.headers ?? {})) res.setHeader(name, value);
      send(res, failure.status, JSON.stringify(failure.body ?? defaultFailure(failure.status)));
      return;
    }
    const auth = req.headers.authorization ?? '';
    const apiKey = /^Bearer (sk_test_[A-Za-z0-9_]+)$/.exec(auth)?.[1];
    if (apiKey === undefined) {
      const message = auth === ''
        ? 'You did not provide an API key. Provide it in the Authorization header as Bearer sk_test_...'
        : 'Invalid API Key provided. The sandbox accepts test-mode secret keys only (Bearer sk_test_...).';
      send(res, 401, JSON.stringify(new SandboxApiError(401, 'authentication_error', message).body()));
      return;
    }
    // Stripe remembers a key per account for writes; a replay returns the first response byte for byte.
    const fingerprint = `${method} ${url.pathname} ${raw.split('&').sort().join('&')}`;
    const slot = key === null || method === 'GET' ? null : `${apiKey}\u0000${key}`;
    const stored = slot === null ? undefined : idempotent.get(slot);
    if (stored !== undefined) {
      if (stored.fingerprint !== fingerprint) {
        const error = new SandboxApiError(
          400,
          'idempotency_error',
          `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
        );
        send(res, 400, JSON.stringify(error.body()));
        return;
      }
      res.setHeader('Idempotent-Replayed', 'true');
      send(res, stored.status, stored.body);
      return;
    }
    let status = 200;
    let text: string;
    try {
      text = JSON.stringify(route(state, { method, path: url.pathname, query: decodeForm(url.search.slice(1)), body }));
    } catch (error) {
      if (!(error instanceof SandboxApiError)) throw error;
      status = error.status;
      text = JSON.stringify(error.body());
    }
    if (slot !== null) idempotent.set(slot, { fingerprint, status, body: text });
    send(res, status, text);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    received,
    failNext: (failure) => void failures.push(failure),
    reset: () => persisted.reset(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function recordedHeaders(req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers[name] = name === 'authorization' ? 'REDACTED' : Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}
