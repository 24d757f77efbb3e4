/**
 * One downstream MCP server, connected with the official SDK client over stdio or Streamable HTTP. It keeps the
 * server's current tool list (re-read on `notifications/tools/list_changed`), reconnects with backoff when the
 * server dies, and reports its state for the banner, /healthz and metrics. Downstream secrets (`env`, `headers`)
 * go only to that process or request.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type CallToolResult, type Progress, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { KernelError } from '../../kernel/index.ts';
import { coalesced } from '../coalesce.ts';
import { downstreamFetch } from './fetch.ts';

export interface McpServerConfig {
  /** stdio: the command to spawn, its arguments, environment (secrets as env:NAME in config) and working directory. */
  command?: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Streamable HTTP: the server's MCP endpoint and headers to send (e.g. Authorization). */
  url?: string;
  headers?: Record<string, string>;
  /** Impact per downstream tool name; anything not listed counts as `high`, whatever the server's annotations say. */
  tools?: Record<string, { impact?: 'read' | 'write' | 'high' }>;
  /** An intent descriptor (YAML) for this server's tools. */
  descriptor?: string;
  /**
   * How long a call may go without an answer, in ms (default 60000); then it is cancelled downstream. A server that
   * reports progress gets this long again after each report, up to ten times it in all.
   */
  timeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 60_000;

export type DownstreamState = 'connecting' | 'up' | 'down';

export class Downstream {
  state: DownstreamState = 'connecting';
  lastError: string | null = null;
  tools: Tool[] = [];
  /** The tool list as last reported through onChange. */
  private listed = '';
  private client: Client | null = null;
  private transport: StdioClientTransport | StreamableHTTPClientTransport | null = null;
  private retry: NodeJS.Timeout | null = null;
  private backoffMs = 1000;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly config: McpServerConfig,
    /** Its tools or its state changed: the kernel re-reads the index, and an executor process reports the state. */
    private readonly onChange: () => void = () => {},
  ) {}

  /** Connects once; a failure leaves the server `down` and schedules a retry, so other servers keep working. */
  async start(): Promise<void> {
    try {
      await this.connect();
    } catch (error) {
      this.fail(error);
    }
  }

  private async connect(): Promise<void> {
    this.state = 'connecting';
    const client = new Client({ name: 'countersign', version: '0.1.0' }, { capabilities: {} });
    const transport = this.config.url
      ? new StreamableHTTPClientTransport(new URL(this.config.url), { requestInit: { headers: this.config.headers ?? {} }, fetch: downstreamFetch() })
      : new StdioClientTransport({
          command: this.config.command!,
          args: this.config.args ?? [],
          env: { ...getDefaultEnvironment(), ...this.config.env },
          cwd: this.config.cwd,
          stderr: 'ignore',
        });
    this.transport = transport;
    client.onclose = () => {
      if (this.client === client) this.fail(new Error('the server closed the connection'));
    };
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      await this.refresh(client).catch((error: unknown) => this.fail(error));
    });
    await client.connect(transport, { timeout: 15_000 });
    this.client = client;
    await this.refresh(client);
    this.state = 'up';
    this.lastError = null;
    this.backoffMs = 1000;
    this.onChange();
  }

  private async refresh(client: Client): Promise<void> {
    const tools: Tool[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.listTools(cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor && tools.length < 1000);
    // Only a list that changed is news. A governed write re-reads it twice (describe, and again before it runs), and
    // each change re-reads every connector's tools (with isolated processes: a message through the supervisor and a
    // tools.list to every executor, 8 channel round trips per write in the MCP bench, 2026-11-29).
    const listed = JSON.stringify(tools);
    this.tools = tools;
    if (listed === this.listed) return;
    this.listed = listed;
    this.onChange();
  }

  private fail(error: unknown): void {
    const old = this.client;
    this.client = null;
    this.state = 'down';
    this.lastError = error instanceof Error ? error.message : String(error);
    void old?.close().catch(() => {});
    if (this.closed || this.retry) return;
    this.onChange();
    this.retry = setTimeout(() => {
      this.retry = null;
      void this.start();
    }, this.backoffMs);
    this.retry.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 30_000);
  }

  /**
   * Re-reads the tool list now. Servers that cannot push list_changed (stateless HTTP) could otherwise change a
   * definition unseen; governed writes re-read before they are described and again before they run. Each caller
   * gets a list read after it asked; writes that ask while a list is being read share the next one (one tools/list
   * for many concurrent writes instead of one each).
   */
  readonly refreshNow: () => Promise<void> = coalesced(async () => {
    if (this.client && this.state === 'up') await this.refresh(this.client).catch((error: unknown) => this.fail(error));
  });

  /** The process id of a stdio server while it runs (operators' diagnostics, crash tests). */
  get pid(): number | null {
    return this.transport instanceof StdioClientTransport ? this.transport.pid : null;
  }

  assertUp(): Client {
    if (!this.client || this.state !== 'up') {
      throw new KernelError('upstream_error', `MCP server ${this.name} is ${this.state}${this.lastError ? ` (${this.lastError})` : ''}; it is reconnected automatically, try again shortly`);
    }
    return this.client;
  }

  /**
   * Calls a tool. `signal` cancels it downstream (MCP notifications/cancelled, sent by the SDK client), as does the
   * timeout; `onprogress` hears the server's progress. A call stopped after it was sent throws with `details.stopped`
   * (cancelled, timeout, lost): the server may have acted, which only the caller can weigh.
   */
  async call(tool: string, args: Record<string, unknown>, options: { signal?: AbortSignal; onprogress?: (p: Progress) => void } = {}): Promise<CallToolResult> {
    const client = this.assertUp();
    const timeout = this.config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { signal } = options;
    if (signal?.aborted) throw new KernelError('cancelled', `${String(signal.reason)}; nothing was sent to MCP server ${this.name}`);
    try {
      // Always with a progress handler: the SDK resets the timeout on progress only for calls that asked for it.
      const onprogress = options.onprogress ?? (() => {});
      return (await client.callTool({ name: tool, arguments: args }, undefined, { timeout, resetTimeoutOnProgress: true, maxTotalTimeout: timeout * 10, signal, onprogress })) as CallToolResult;
    } catch (error) {
      if (signal?.aborted) {
        throw new KernelError('cancelled', `${String(signal.reason)} while MCP server ${this.name} was running ${tool}; Countersign told the server to stop`, { stopped: 'cancelled' });
      }
      if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
        const total = typeof error.data === 'object' && error.data !== null && 'maxTotalTimeout' in error.data;
        const limit = total ? `${timeout * 10} ms in all (ten times its timeoutMs, though it reported progress)` : `${timeout} ms (its timeoutMs)`;
        throw new KernelError('upstream_error', `MCP server ${this.name} did not answer ${tool} within ${limit}, so Countersign cancelled the call`, { stopped: 'timeout' });
      }
      if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) {
        throw new KernelError('upstream_error', `MCP server ${this.name} went away while running ${tool}; it is restarted automatically`, { stopped: 'lost' });
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    await this.client?.close().catch(() => {});
    this.client = null;
  }
}
