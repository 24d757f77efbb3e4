import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { WebStandardStreamableHTTPServerTransport, type WebStandardStreamableHTTPServerTransportOptions } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { DEFAULT_SSE_KEEP_ALIVE_MS } from '@modelcontextprotocol/sdk/server/sseKeepAlive.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import type { Transport, TransportSendOptions } from '@modelcontextprotocol/sdk/shared/transport.js';
import { RELATED_TASK_META_KEY, SUPPORTED_PROTOCOL_VERSIONS, type JSONRPCMessage, type MessageExtraInfo, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** Requests whose handlers send nothing but their answer when the caller asked for no progress and no task. */
const DIRECT_METHODS = new Set(['tools/call', 'tools/list', 'ping']);
/** How long a direct call may take and still be answered as one JSON body; a longer one (held for approval) turns into an event stream. */
export const JSON_WINDOW_MS = 1000;

/** A request answered here rather than by the SDK transport: `answer` takes its response, `end` gives up on it. */
interface Direct {
  answer(message: JSONRPCMessage): void;
  end(): void;
}

/**
 * The session's transport for the SDK `Server`: the SDK's web-standard Streamable HTTP transport, which answers every
 * POST as an event stream, plus a direct path for calls that can receive nothing but their answer (no progress token,
 * no task, no related task, and a method whose handler sends nothing else). Such a call is handed to the server through
 * this Transport's own `onmessage`, and its answer, which the server sends here, becomes one `application/json` body
 * (MCP Streamable HTTP lets the server pick either; clients must accept both). A call still running after
 * JSON_WINDOW_MS, a call held for approval, is answered over an event stream with keep-alives instead, as the SDK
 * would. Everything else (initialize, GET, DELETE, notifications, batches, progress, tasks) goes to the SDK transport
 * unchanged, and so does any request that fails one of its checks, so it refuses as before.
 */
export class SessionTransport implements Transport {
  readonly sse: WebStandardStreamableHTTPServerTransport;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  private readonly direct = new Map<RequestId, Direct>();
  private closed = false;

  constructor(options: WebStandardStreamableHTTPServerTransportOptions) {
    this.sse = new WebStandardStreamableHTTPServerTransport(options);
  }

  get sessionId(): string | undefined {
    return this.sse.sessionId;
  }

  async start(): Promise<void> {
    this.sse.onmessage = (message, extra) => {
      this.onmessage?.(message, extra);
      // The server has aborted the cancelled call and will not answer it: its HTTP answer ends without one, as the
      // SDK's event stream does when a session closes.
      if ('method' in message && message.method === 'notifications/cancelled') {
        const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        const direct = id === undefined ? undefined : this.direct.get(id);
        if (direct) this.direct.delete(id!), direct.end();
      }
    };
    this.sse.onerror = (error) => this.onerror?.(error);
    this.sse.onclose = () => {
      this.closed = true;
      for (const direct of this.direct.values()) direct.end();
      this.direct.clear();
      this.onclose?.();
    };
    await this.sse.start();
  }

  close(): Promise<void> {
    return this.sse.close();
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    const id = 'result' in message || 'error' in message ? message.id : options?.relatedRequestId;
    const direct = id === undefined || id === null ? undefined : this.direct.get(id);
    if (!direct) return this.sse.send(message, options);
    if ('method' in message) {
      // Not reached by this server's handlers for the direct methods; a request could never get its reply here.
      if ('id' in message) throw new Error(`cannot send ${message.method} to the client: request ${String(id)} is answered as one JSON body`);
      return;
    }
    this.direct.delete(id!);
    direct.answer(message);
  }

  handleRequest(req: Request, options?: { authInfo?: AuthInfo; parsedBody?: unknown }): Promise<Response> {
    return this.sse.handleRequest(req, options);
  }

  /**
   * Serves one POSTed JSON-RPC request (already checked to be a JSON-RPC message) on the direct path, or returns null
   * when it must go to the SDK transport: not a direct call, or a request the SDK transport would refuse. `forget` is
   * for when the client has gone (its connection closed): an answer coming later is not this request's any more, as
   * the client may reuse the id.
   */
  answerDirectly(req: Request, message: unknown, authInfo: AuthInfo): { response: Promise<Response>; forget(): void } | null {
    const sessionId = this.sse.sessionId;
    if (this.closed || sessionId === undefined || !isDirectCall(message) || this.direct.has(message.id)) return null;
    // The SDK transport's checks of a request after initialize; a request failing any of them goes there to be refused.
    const headers = req.headers;
    const accept = headers.get('accept');
    if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return null;
    if (!isJsonContentType(headers.get('content-type')) || headers.get('mcp-session-id') !== sessionId) return null;
    const version = headers.get('mcp-protocol-version');
    if (version !== null && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) return null;

    const id = message.id;
    let entry: Direct | undefined;
    const forget = () => {
      if (entry && this.direct.get(id) === entry) this.direct.delete(id), entry.end();
    };
    const response = new Promise<Response>((resolve) => {
      let stream: ReadableStreamDefaultController<Uint8Array> | undefined;
      let keepAlive: ReturnType<typeof setInterval> | undefined;
      const finish = (chunk?: string) => {
        clearTimeout(window);
        clearInterval(keepAlive);
        if (!stream) return resolve(sseResponse(sessionId, chunk));
        try {
          if (chunk) stream.enqueue(encoder.encode(chunk));
          stream.close();
        } catch {
          // The client went away: nothing to deliver to.
        }
      };
      const window = setTimeout(() => {
        // Still running (held for approval): answer over an event stream, kept alive, as the SDK transport does.
        const body = new ReadableStream<Uint8Array>({
          start: (controller) => void (stream = controller),
          cancel: () => clearInterval(keepAlive),
        });
        keepAlive = setInterval(() => {
          try {
            stream!.enqueue(encoder.encode(': keepalive\n\n'));
          } catch {
            clearInterval(keepAlive);
          }
        }, DEFAULT_SSE_KEEP_ALIVE_MS);
        keepAlive.unref();
        resolve(new Response(body, { status: 200, headers: sseHeaders(sessionId) }));
      }, JSON_WINDOW_MS);
      this.direct.set(id, (entry = {
        answer: (response) => {
          if (stream) return finish(`event: message\ndata: ${JSON.stringify(response)}\n\n`);
          clearTimeout(window);
          resolve(new Response(JSON.stringify(response), { status: 200, headers: { 'content-type': 'application/json', 'mcp-session-id': sessionId } }));
        },
        end: () => finish(),
      }));
      const requestInfo = {
        get headers() {
          return Object.fromEntries(headers.entries());
        },
        get url() {
          return new URL(req.url);
        },
      };
      try {
        this.onmessage?.(message, { authInfo, requestInfo });
      } catch (error) {
        this.direct.delete(id);
        clearTimeout(window);
        throw error;
      }
    });
    return { response, forget };
  }
}

const encoder = new TextEncoder();

const sseHeaders = (sessionId: string): Record<string, string> => ({
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
  'mcp-session-id': sessionId,
});

/** An event stream holding `chunk` (or nothing: a call that gets no answer), already ended. */
function sseResponse(sessionId: string, chunk?: string): Response {
  return new Response(chunk ?? '', { status: 200, headers: sseHeaders(sessionId) });
}

type DirectCall = { jsonrpc: '2.0'; id: RequestId; method: string; params?: Record<string, unknown> };

function isDirectCall(m: unknown): m is DirectCall & JSONRPCMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return false;
  const { id, method, params } = m as Partial<DirectCall>;
  if (id === undefined || typeof method !== 'string' || !DIRECT_METHODS.has(method)) return false;
  if (params === undefined) return true;
  if (typeof params !== 'object' || params === null || params.task !== undefined) return false;
  const meta = params._meta as Record<string, unknown> | undefined;
  return meta === undefined || (typeof meta === 'object' && meta !== null && meta.progressToken === undefined && meta[RELATED_TASK_META_KEY] === undefined);
}
