import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { json } from './mcp-arbitraries.ts';

/**
 * Hostile HTTP at the byte level, for test/fuzz/hostile.long.test.ts: requests written to a raw socket (fetch would
 * refuse most of them) with bad methods, path tricks, huge and malformed headers, bad content types and encodings,
 * broken framing, slow delivery and pipelining. `exchange` reads only the status lines, so an event stream that never
 * ends still counts as answered.
 */

/** What the test knows about the server, to fill route parameters and sign in. */
export interface Target {
  port: number;
  /** A value that names something real for each route parameter (`:id`, `:token`, `:name`, `*`). */
  valid(route: string, param: string): string;
  cookie(): string;
  csrf(): string;
  bearer(): string;
  origin: string;
}

export interface HostileCase {
  route: string;
  params: 'valid' | string;
  trick: number;
  method: string;
  version: string;
  host: string;
  who: { session: 'valid' | 'none' | 'garbage'; csrf: boolean; origin: 'same' | 'evil' | 'null' | 'none'; auth: string };
  contentType: string | null;
  encoding: string | null;
  framing: 'length' | 'chunked' | 'chunked-bad' | 'none' | 'length-dup' | 'te-and-cl' | 'length-neg';
  extra: [string, string][];
  bigHeader: number;
  manyHeaders: number;
  lineEnd: '\r\n' | '\n';
  body: Uint8Array;
  delivery: 'whole' | 'bytewise' | 'slow' | 'pipelined';
  client: number;
}

const SEGMENTS = ['nope', '', '..', '%2e%2e', '%00', '%ZZ', '%c0%af', 'x'.repeat(300), '\u00e9', '<script>', "'", '"', '%', ';', '%2F..%2F', 'CON', '.', '~root', '0', '-1', '9'.repeat(40), '__proto__'];
/** Path tricks: each takes the path and returns what goes in the request line. */
export const TRICKS: ((path: string, port: number) => string)[] = [
  (p) => p,
  (p) => p,
  (p) => p,
  (p) => `${p}/`,
  (p) => `/${p}`,
  (p) => p.replaceAll('/', '//'),
  (p) => `/.${p}`,
  (p) => `/x/..${p}`,
  (p) => `/%2e%2e${p}`,
  (p) => `${p}%00`,
  (p) => `${p}%`,
  (p) => `${p}%ZZ`,
  (p) => `${p}%c0%ae%c0%ae/`,
  (p) => p.replaceAll('/', '%2F'),
  (p) => p.toUpperCase(),
  (p) => `${p};jsessionid=x`,
  (p) => `${p}\\..\\`,
  (p, port) => `http://127.0.0.1:${port}${p}`,
  (p) => `http://evil.example${p}`,
  () => '*',
  (p) => `${p}/${'a'.repeat(8000)}`,
  (p) => `${p}?${'q=1&'.repeat(5000)}`,
  (p) => `${p}?__proto__[x]=1&constructor.prototype.x=1&a=%ZZ&b=%00`,
  (p) => `${p}#frag`,
  (p) => `${p}/\u00e9`,
  (p) => `${p}\u00ff`,
  (p) => p.replace(/^\//, ''),
];
const METHODS = ['GET', 'GET', 'POST', 'POST', 'POST', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND', 'get', 'post', 'FOO', 'M-SEARCH', 'GET\u0000', 'G ET', ''];
const VERSIONS = ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1x', 'http/1.1', ''];
const HOSTS = ['ok', 'ok', 'ok', 'ok', 'localhost', 'evil.example', 'none', 'twice', 'huge', '[::1]', '127.0.0.1:1', 'with-nul'];
const CONTENT_TYPES = [
  'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=bogus',
  'application/x-www-form-urlencoded', 'multipart/form-data', 'multipart/form-data; boundary=XYZ', 'multipart/form-data; boundary=', 'text/plain',
  'text/html', 'application/octet-stream', ';;;', 'application/json, text/html', `x/${'y'.repeat(5000)}`, 'application/jsonp', 'APPLICATION/JSON',
];
const ENCODINGS = ['gzip', 'gzip-valid', 'br', 'deflate', 'identity', 'bogus', 'gzip, gzip'];
const AUTHS = ['none', 'none', 'bearer', 'bearer-bad', 'passport-bad', 'basic', 'huge'];
const HEADER_NAMES = ['x-forwarded-for', 'forwarded', 'x-forwarded-host', 'x-forwarded-proto', 'expect', 'upgrade', 'connection', 'range', 'if-none-match', 'accept', 'accept-encoding', 'accept-language', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'x-csrf-token', 'cookie', 'referer', 'user-agent', 'x-http-method-override', 'content-language', 'sec-fetch-site', 'bad header', 'x\u0000y', ''];
const HEADER_VALUES = ['', ' ', '100-continue', 'websocket', 'upgrade', 'close', 'keep-alive, Upgrade', 'bytes=0-1,2-3', '*', '1.1.1.1, 2.2.2.2', 'for=unknown', 'text/event-stream', '2025-11-25', 'x'.repeat(2000), '\u00e9\u00ff', 'a\u0000b', 'a\rb', 'DELETE', '-1', '__proto__'];

const bodyArb = fc.oneof(
  { weight: 3, arbitrary: json.map((v) => Buffer.from(JSON.stringify(v) ?? '')) },
  { weight: 2, arbitrary: fc.dictionary(fc.constantFrom('challengeId', 'response', 'decision', 'reason', 'code', 'publicJwk', 'endpoint', 'keys', 'email', 'requestId', 'jws', '_csrf', 'role', 'jsonrpc', 'method'), json, { maxKeys: 5 }).map((v) => Buffer.from(JSON.stringify(v))) },
  { weight: 1, arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 16 }), { maxKeys: 4 }).map((v) => Buffer.from(new URLSearchParams(v).toString())) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: json.map((v) => Buffer.from(JSON.stringify(v) ?? '', 'utf16le')) },
  { weight: 1, arbitrary: json.map((v) => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(v) ?? '')])) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Buffer.alloc(0),
      Buffer.from('--XYZ\r\nContent-Disposition: form-data; name="_csrf"\r\n\r\nx\r\n--XYZ--\r\n'),
      Buffer.from('--XYZ\r\nContent-Disposition: form-data; name="f"; filename="../../etc/passwd"\r\nContent-Type: application/x-sh\r\n\r\n#!/bin/sh\r\n--XYZ'),
      Buffer.from('--XYZ\r\n\r\n\r\n'),
      Buffer.from('%ZZ=%%&a=%c0%ae&=&&=='),
      Buffer.from('[' .repeat(50_000)),
      Buffer.alloc(70 * 1024, 0x61),
      Buffer.alloc(1100 * 1024, 0x20),
      Buffer.from([0xc0, 0xae, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80, 0xff]),
      Buffer.from('{"a":"\\ud800","b":"\\u0000"}'),
    ),
  },
);

/** A hostile request for one of `routes`. */
export function hostileCase(routes: string[]): fc.Arbitrary<HostileCase> {
  return fc.record({
    route: fc.constantFrom(...routes),
    params: fc.oneof({ weight: 3, arbitrary: fc.constant('valid') }, { weight: 2, arbitrary: fc.constantFrom(...SEGMENTS) }),
    trick: fc.nat(TRICKS.length - 1),
    method: fc.constantFrom(...METHODS),
    version: fc.constantFrom(...VERSIONS),
    host: fc.constantFrom(...HOSTS),
    who: fc.record({
      session: fc.constantFrom('valid', 'valid', 'none', 'garbage'),
      csrf: fc.boolean(),
      origin: fc.constantFrom('same', 'same', 'evil', 'null', 'none'),
      auth: fc.constantFrom(...AUTHS),
    }),
    contentType: fc.option(fc.constantFrom(...CONTENT_TYPES), { freq: 5 }),
    encoding: fc.option(fc.constantFrom(...ENCODINGS), { freq: 1, nil: null }).chain((e) => (e === null ? fc.constant(null) : fc.option(fc.constant(e), { freq: 3 }))),
    framing: fc.constantFrom('length', 'length', 'length', 'length', 'chunked', 'chunked', 'chunked-bad', 'none', 'length-dup', 'te-and-cl', 'length-neg'),
    extra: fc.array(fc.tuple(fc.constantFrom(...HEADER_NAMES), fc.constantFrom(...HEADER_VALUES)), { maxLength: 4 }),
    bigHeader: fc.constantFrom(0, 0, 0, 0, 0, 0, 4000, 15_000, 17_000, 70_000),
    manyHeaders: fc.constantFrom(0, 0, 0, 0, 0, 90, 2000),
    lineEnd: fc.constantFrom('\r\n', '\r\n', '\r\n', '\r\n', '\n'),
    body: bodyArb,
    delivery: fc.constantFrom('whole', 'whole', 'whole', 'whole', 'whole', 'whole', 'bytewise', 'slow', 'pipelined'),
    client: fc.nat(),
  }) as fc.Arbitrary<HostileCase>;
}

/** The path with its parameters filled: real ids (a request, an invite, a device, an asset) or hostile segments. */
function fill(route: string, params: string, target: Target): string {
  return route.replace(/:([a-z]+)|\*$/gi, (whole, name: string | undefined) => {
    const param = name ?? '*';
    return params === 'valid' ? target.valid(route, param) : encodeSegment(params);
  });
}
const encodeSegment = (s: string) => s.replace(/[^\x21-\x7e]|[ ?#]/g, (c) => encodeURIComponent(c));

/** The request as the byte chunks to write (with the pause before each), and how many answers to wait for. */
export function render(c: HostileCase, target: Target): { chunks: { bytes: Buffer; delayMs: number }[]; answers: number; describe: string } {
  const E = c.lineEnd;
  const path = TRICKS[c.trick]!(fill(c.route, c.params, target), target.port);
  const lines: string[] = [];
  const head = (name: string, value: string) => lines.push(`${name}: ${value}`);
  const hostValue = { ok: `127.0.0.1:${target.port}`, localhost: `localhost:${target.port}`, huge: 'h'.repeat(9000), 'with-nul': `127.0.0.1:${target.port}\u0000x` }[c.host] ?? c.host;
  if (c.host !== 'none') head('Host', hostValue);
  if (c.host === 'twice') head('Host', `127.0.0.1:${target.port}`);
  // Each case comes from its own address (the server trusts loopback as a proxy), so throttles do not end the run.
  head('X-Forwarded-For', `10.${(c.client >> 16) & 255}.${(c.client >> 8) & 255}.${c.client & 255}`);
  if (c.who.session === 'valid') head('Cookie', `cs_session=${target.cookie()}`);
  if (c.who.session === 'garbage') head('Cookie', `cs_session=${'\u00e9'.repeat(10)}; cs_csrf==; ;;=`);
  if (c.who.csrf) head('X-CSRF-Token', target.csrf());
  if (c.who.origin === 'same') head('Origin', target.origin);
  if (c.who.origin === 'evil') head('Origin', 'https://evil.example');
  if (c.who.origin === 'null') head('Origin', 'null');
  const auth: Record<string, string> = {
    bearer: `Bearer ${target.bearer()}`,
    'bearer-bad': 'Bearer cs_nope',
    'passport-bad': 'Passport eyJhbGciOiJFZERTQSIsImtpZCI6Im5vcGUifQ.e30.AAAA',
    basic: 'Basic YTpi',
    huge: `Bearer ${'t'.repeat(12_000)}`,
  };
  if (auth[c.who.auth]) head('Authorization', auth[c.who.auth]!);
  head('Accept', 'application/json, text/event-stream, text/html');
  if (c.contentType !== null) head('Content-Type', c.contentType);
  let body = Buffer.from(c.body);
  if (c.encoding === 'gzip-valid') {
    body = gzipSync(body);
    head('Content-Encoding', 'gzip');
  } else if (c.encoding !== null) head('Content-Encoding', c.encoding);
  for (const [name, value] of c.extra) head(name, value);
  if (c.bigHeader) head('X-Big', 'b'.repeat(c.bigHeader));
  for (let i = 0; i < c.manyHeaders; i++) head(`X-Many-${i}`, String(i));
  const hasBody = body.length > 0 || c.framing !== 'length';
  let payload = Buffer.alloc(0);
  if (hasBody) {
    switch (c.framing) {
      case 'length':
        head('Content-Length', String(body.length));
        payload = body;
        break;
      case 'chunked': {
        head('Transfer-Encoding', 'chunked');
        const parts: Buffer[] = [];
        for (let at = 0; at < body.length; at += 7919) {
          const part = body.subarray(at, at + 7919);
          parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
        }
        parts.push(Buffer.from('0\r\n\r\n'));
        payload = Buffer.concat(parts);
        break;
      }
      case 'chunked-bad':
        head('Transfer-Encoding', 'chunked');
        payload = Buffer.concat([Buffer.from('zz\r\n'), body, Buffer.from('\r\n0\r\n\r\n')]);
        break;
      case 'none':
        payload = body;
        break;
      case 'length-dup':
        head('Content-Length', String(body.length));
        head('Content-Length', String(body.length + 1));
        payload = body;
        break;
      case 'te-and-cl':
        head('Transfer-Encoding', 'chunked');
        head('Content-Length', String(body.length));
        payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
        break;
      case 'length-neg':
        head('Content-Length', '-1');
        payload = body;
        break;
    }
  }
  if (c.delivery === 'pipelined') head('Connection', 'keep-alive');
  const requestLine = `${c.method} ${path} ${c.version}`.trimEnd();
  const bytes = Buffer.concat([Buffer.from(`${requestLine}${E}${lines.join(E)}${E}${E}`, 'latin1'), payload]);
  const describe = `${requestLine.slice(0, 300)} [${lines.map((l) => (l.length > 120 ? `${l.slice(0, 120)}…(${l.length})` : l)).join(' | ').slice(0, 1500)}] body ${payload.length} bytes ${JSON.stringify(payload.subarray(0, 120).toString('latin1'))} ${c.delivery}`;
  if (c.delivery === 'pipelined') {
    const second = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${target.port}\r\nConnection: close\r\n\r\n`);
    return { chunks: [{ bytes: Buffer.concat([bytes, second]), delayMs: 0 }], answers: 2, describe };
  }
  if (c.delivery === 'bytewise') {
    const step = Math.max(1, Math.ceil(bytes.length / 40));
    const chunks = [];
    for (let at = 0; at < bytes.length; at += step) chunks.push({ bytes: bytes.subarray(at, at + step), delayMs: 1 });
    return { chunks, answers: 1, describe };
  }
  if (c.delivery === 'slow') {
    // A slow client: the request in ten pieces over about a second, well inside the request timeout.
    const step = Math.max(1, Math.ceil(bytes.length / 10));
    const chunks = [];
    for (let at = 0; at < bytes.length; at += step) chunks.push({ bytes: bytes.subarray(at, at + step), delayMs: 100 });
    return { chunks, answers: 1, describe };
  }
  return { chunks: [{ bytes, delayMs: 0 }], answers: 1, describe };
}

export interface Exchange {
  /** Final status codes read, in order (1xx left out). */
  statuses: number[];
  /** How the exchange ended: every expected answer read, the server closed the connection, or nothing came in time. */
  end: 'answered' | 'closed' | 'timeout' | 'refused';
  head: string;
}

/** Writes the chunks to a new connection and reads status lines until `answers` arrived, the server closed, or `timeoutMs`. */
export function exchange(port: number, chunks: { bytes: Buffer; delayMs: number }[], answers: number, timeoutMs: number): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    let done = false;
    const statuses = () =>
      [...data.toString('latin1').matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/g)].map((m) => Number(m[1])).filter((s) => s >= 200);
    const finish = (end: Exchange['end']) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ statuses: statuses(), end, head: data.subarray(0, 400).toString('latin1') });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length > 1 << 20) data = data.subarray(0, 1 << 20);
      if (statuses().length >= answers && /\r\n\r\n/.test(data.toString('latin1'))) finish('answered');
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? 'refused' : 'closed'));
    socket.on('close', () => finish('closed'));
    socket.on('connect', async () => {
      for (const chunk of chunks) {
        if (done) return;
        if (chunk.delayMs) await new Promise((r) => setTimeout(r, chunk.delayMs));
        if (done || socket.destroyed) return;
        socket.write(chunk.bytes);
      }
    });
  });
}
