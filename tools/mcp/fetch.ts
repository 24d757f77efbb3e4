/**
 * The fetch the SDK's Streamable HTTP client transport uses to reach a downstream MCP server (issue 13: the upstream
 * hop). Node's fetch (undici) cost the governed read more CPU than the hop's bytes: it adds an abort listener per
 * request to the transport's one long-lived AbortSignal, released only at GC (undici then scans the growing list
 * on every request, and warns past 1,500); it tees the request body and writes it as an async iterable; and every answer
 * arrives as web streams the SDK then pipes through two more (text decoder, SSE parser).
 *
 * This fetch speaks HTTP/1.1 through node:http(s) with a keep-alive agent: the body goes out with the headers in one
 * write, the signal's listener is removed when the exchange ends, and a JSON answer is read whole into a Response
 * with no stream. An event-stream answer to a POST of requests is read as it comes: if it carries nothing but their
 * answers (no progress, no server request, no event id, no retry) and ends, the SDK gets those answers as JSON, which
 * it handles exactly as it handles SSE messages; at the first anything-else the SDK gets the stream itself, the bytes
 * seen so far first, so progress and the rest arrive as they would have. Requests it does not recognize (another body
 * type, redirects to follow: the SDK's own OAuth discovery) go to Node's fetch unchanged.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { StringDecoder } from 'node:string_decoder';
import { whenAborted } from '../../net/abort.ts';

/** Answers held after the stream's last answer, waiting for its end, before the SDK gets the stream instead. */
const END_GRACE_MS = 20;
/** As undici: an exchange with nothing received for this long fails (headers, or between body chunks). */
const IDLE_MS = 300_000;
/** As undici's default keep-alive (4 s), under Node servers' 5 s; a server's shorter Keep-Alive hint wins. */
const KEEP_ALIVE_MS = 4_000;

type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** A Response whose body was read whole (or parsed already): no web stream is made for it. */
class ReadResponse extends Response {
  constructor(init: ResponseInit, private readonly raw: Buffer | null, private readonly parsed?: unknown) {
    super(null, init);
  }
  override async text(): Promise<string> {
    return this.raw ? this.raw.toString('utf8') : JSON.stringify(this.parsed);
  }
  override async json(): Promise<unknown> {
    return this.raw ? JSON.parse(this.raw.toString('utf8')) : this.parsed;
  }
  override async arrayBuffer(): Promise<ArrayBuffer> {
    return (await this.bytes()).buffer as ArrayBuffer;
  }
  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(this.raw ?? Buffer.from(await this.text()));
  }
}

/** The ids of the requests in a JSON-RPC body (a message or a batch), or null when it is not JSON. */
function requestIds(body: string): Set<unknown> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const ids = new Set<unknown>();
  for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
    if (m && typeof m === 'object' && 'method' in m && 'id' in m && m.id !== undefined) ids.add(m.id);
  }
  return ids;
}


function aborted(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

export function downstreamFetch(): Fetch {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS }),
    'https:': new https.Agent({ keepAlive: true, timeout: KEEP_ALIVE_MS }),
  };
  return (input, init) => {
    const url = typeof input === 'string' ? new URL(input) : input;
    const body = init?.body ?? undefined;
    const ours = init?.redirect === 'manual' && (body === undefined || typeof body === 'string') && url.protocol in agents;
    if (!ours) return fetch(input, init);
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return Promise.reject(aborted(signal));
    const headers: Record<string, string> = { 'user-agent': 'node' };
    for (const [name, value] of new Headers(init.headers)) headers[name] = value;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const method = init.method ?? 'GET';
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const settle = (make: () => Response) => {
        if (settled) return;
        settled = true;
        try {
          resolve(make());
        } catch (error) {
          request.destroy();
          reject(error);
        }
      };
      /** Where the body goes once the SDK has it as a stream; null while it is being read here. */
      let piped: { push(chunk: Buffer): void; end(): void; fail(error: unknown): void } | null = null;
      const request = (url.protocol === 'https:' ? https : http).request(url, { method, headers, agent: agents[url.protocol as 'http:'] });
      const done = signal ? whenAborted(signal, () => request.destroy(aborted(signal) as Error)) : () => {};
      const fail = (error: unknown) => {
        done();
        if (piped) piped.fail(error);
        else if (!settled) {
          settled = true;
          reject(signal?.aborted ? error : new TypeError('fetch failed', { cause: error }));
        }
      };
      request.setTimeout(IDLE_MS, () => request.destroy(new Error(`no data from ${url.host} for ${IDLE_MS / 1000} s`)));
      request.on('error', fail);
      request.on('response', (res: IncomingMessage) => {
        res.on('close', done);
        res.on('error', fail);
        // A reason phrase the Response constructor would refuse is dropped (undici's own responses never check it).
        const statusText = /^[\t\x20-\x7e\x80-\xff]*$/.test(res.statusMessage ?? '') ? res.statusMessage : '';
        const init: ResponseInit = { status: res.statusCode, statusText, headers: pairs(res.rawHeaders) };
        const type = res.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
        const chunks: Buffer[] = [];
        let ended = false;
        // Hands the SDK the stream: what was read so far, then the rest as it arrives.
        const stream = () => settle(() => {
          clearTimeout(grace);
          let open = true;
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              piped = {
                push: (chunk) => open && controller.enqueue(chunk),
                end: () => { if (open) { open = false; controller.close(); } },
                fail: (error) => { if (open) { open = false; controller.error(error); } },
              };
              for (const c of chunks) controller.enqueue(c);
              if (ended) piped.end();
            },
            cancel() {
              open = false;
              res.destroy();
            },
          });
          return new Response(body, init);
        });
        const ids = type === 'text/event-stream' && method === 'POST' && res.statusCode === 200 && body ? requestIds(body) : null;
        const answers = ids?.size ? new Answers(ids) : null;
        let grace: NodeJS.Timeout | undefined;
        if (type === 'text/event-stream' && !answers) stream();
        res.on('data', (chunk: Buffer) => {
          if (piped) return piped.push(chunk);
          chunks.push(chunk);
          if (!answers) return;
          if (!answers.take(chunk)) return stream();
          if (answers.complete && !grace) grace = setTimeout(stream, END_GRACE_MS);
        });
        res.on('end', () => {
          ended = true;
          clearTimeout(grace);
          if (piped) return piped.end();
          if (answers && !answers.complete) return stream();
          if (!answers) return settle(() => new ReadResponse(init, Buffer.concat(chunks)));
          const json = answers.messages.length === 1 ? answers.messages[0] : answers.messages;
          const typed = (k: string, v: string) => (/^content-type$/i.test(k) ? 'application/json' : v);
          const headers = (init.headers as [string, string][]).map(([k, v]): [string, string] => [k, typed(k, v)]);
          settle(() => new ReadResponse({ ...init, headers }, null, json));
        });
      });
      request.end(body);
    });
  };
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i]!, raw[i + 1]!]);
  return out;
}

/**
 * Reads an event stream that may carry only answers to `ids`. `take` returns false at the first thing that is not
 * such an answer (the stream must then go to the SDK as a stream); `complete` once every id has its answer.
 */
class Answers {
  readonly messages: unknown[] = [];
  private readonly decoder = new StringDecoder('utf8');
  private text = '';
  private left: number;

  constructor(private readonly ids: Set<unknown>) {
    this.left = ids.size;
  }

  get complete(): boolean {
    return this.left === 0;
  }

  take(chunk: Buffer): boolean {
    this.text += this.decoder.write(chunk);
    for (;;) {
      const end = /\r\n\r\n|\n\n|\r\r/.exec(this.text);
      if (!end) return true;
      const event = this.text.slice(0, end.index);
      this.text = this.text.slice(end.index + end[0].length);
      if (!this.event(event)) return false;
    }
  }

  /** One event: only `data` lines (and comments) of one JSON-RPC answer to a request still waiting are taken. */
  private event(block: string): boolean {
    let data: string | null = null;
    for (const line of block.split(/\r\n|\n|\r/)) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1);
      if (field === 'event' && (value === '' || value === 'message')) continue; // the SDK reads both as a message
      if (field !== 'data') return false; // another event type, id, retry: the SDK acts on these
      data = data === null ? value : `${data}\n${value}`;
    }
    if (data === null) return true;
    if (this.complete) return false;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return false;
    }
    if (!message || typeof message !== 'object' || Array.isArray(message) || 'method' in message) return false;
    if (!('id' in message) || !this.ids.has(message.id) || !('result' in message || 'error' in message)) return false;
    this.ids.delete(message.id);
    this.left--;
    this.messages.push(message);
    return true;
  }
}
