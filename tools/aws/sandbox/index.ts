/**
 * A local stand-in for the AWS APIs the connector uses (ECS, Lambda, IAM, EC2, S3), on one port: the service is
 * read from the SigV4 credential scope, as AWS's own endpoints are chosen by host. Every request must carry a valid
 * SigV4 signature by the sandbox's credentials. Received requests are kept (the signature redacted) and every write
 * that took effect is counted in `state.effects`.
 * @example const aws = await startAwsSandbox(); createAwsConnector({ endpoint: aws.url, credentials: aws.credentials, sandbox: true });
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { scopedService, verifySigV4, type SandboxCredentials } from './sigv4.ts';
import { SERVICES, type Incoming } from './services.ts';
import { AwsSandboxState } from './state.ts';
import { sandboxFile } from '../../sandbox-file.ts';
import { AwsFault, type Reply } from './wire.ts';

export { AwsSandboxState, ACCOUNT, REGION } from './state.ts';

export interface AwsReceived {
  service: string | null;
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
}

export interface AwsSandbox {
  url: string;
  region: string;
  credentials: SandboxCredentials;
  state: AwsSandboxState;
  received: AwsReceived[];
  /** The next request to `service` (and `op`, an X-Amz-Target suffix, query Action or path fragment) gets this fault. */
  failNext(fault: { service: string; status: number; code: string; message: string; op?: string }): void;
  /** Hold every write to `service` for `ms` before answering (crash and replica tests). */
  slowWrites(service: string, ms: number): void;
  /** Puts the seeded story back and forgets the saved state. */
  reset(): void;
  close(): Promise<void>;
}

const MAX_BODY = 8 * 1024 * 1024;

export async function startAwsSandbox(options: { port?: number; credentials?: SandboxCredentials; stateFile?: string } = {}): Promise<AwsSandbox> {
  const credentials = options.credentials ?? { accessKeyId: 'AKIASANDBOXEXAMPLE01', secretAccessKey: 'sandbox/secret/0123456789abcdefghijklmnopqrstuv' };
  const state = new AwsSandboxState();
  // With a file the world survives restarts; every write saves it.
  const persisted = sandboxFile(options.stateFile, { state }, () => ({ state: new AwsSandboxState() }));
  const received: AwsReceived[] = [];
  const faults: { service: string; status: number; code: string; message: string; op?: string }[] = [];
  const slow = new Map<string, number>();

  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') res.once('finish', () => persisted.save());
    void handle(req, res).catch((error: unknown) => send(res, { status: 500, body: `sandbox error: ${String(error)}` }));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    if (body === null) return send(res, { status: 413, body: 'request body too large for the sandbox' });
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(',') : String(v ?? '');
    const incoming: Incoming = { method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers, body };
    const service = scopedService(headers.authorization);
    received.push({
      service, method: incoming.method, path: incoming.path, query: Object.fromEntries(url.searchParams),
      headers: { ...headers, authorization: headers.authorization ? headers.authorization.replace(/Signature=[0-9a-f]+/, 'Signature=REDACTED') : '' },
      body: body.toString('utf8'),
    });
    // Unsigned or wrongly signed requests are refused in the protocol of the service they name (ECS's by default).
    const protocol = SERVICES[service ?? ''] ?? SERVICES.ecs!;
    const verified = await verifySigV4({ method: incoming.method, host: headers.host ?? '', path: req.url?.split('?')[0] ?? '/', query: url.searchParams, headers, body }, credentials);
    if (!verified.ok) return send(res, protocol.fail(new AwsFault(verified.code === 'MissingAuthenticationToken' || verified.code === 'XAmzContentSHA256Mismatch' ? 400 : 403, verified.code, verified.message), incoming));
    const handler = SERVICES[verified.service];
    if (!handler) return send(res, protocol.fail(new AwsFault(400, 'UnknownService', `the sandbox does not serve ${verified.service}`), incoming));
    const op = `${headers['x-amz-target'] ?? ''} ${incoming.query.get('Action') ?? ''} ${new URLSearchParams(body.toString('utf8')).get('Action') ?? ''} ${incoming.method} ${incoming.path}`;
    const at = faults.findIndex((f) => f.service === verified.service && (f.op === undefined || op.includes(f.op)));
    if (at >= 0) {
      const [fault] = faults.splice(at, 1);
      return send(res, handler.fail(new AwsFault(fault!.status, fault!.code, fault!.message), incoming));
    }
    const delay = slow.get(verified.service);
    if (delay && isWrite(verified.service, incoming, op)) await new Promise((r) => setTimeout(r, delay));
    send(res, handler.handle(incoming, state));
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials,
    state,
    received,
    failNext: (fault) => void faults.push(fault),
    slowWrites: (service, ms) => void slow.set(service, ms),
    reset: () => persisted.reset(),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function isWrite(service: string, req: Incoming, op: string): boolean {
  if (service === 's3' || service === 'lambda') return req.method === 'PUT' || req.method === 'DELETE' || req.method === 'POST';
  return /UpdateService|RegisterTaskDefinition|AttachRolePolicy|StopInstances|TerminateInstances/.test(op);
}

function send(res: ServerResponse, reply: Reply): void {
  res.writeHead(reply.status, { 'x-countersign-sandbox': 'true', ...reply.headers });
  res.end(reply.body ?? undefined);
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        resolve(null);
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
