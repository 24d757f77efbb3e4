import { randomUUID } from 'node:crypto';
import { McpError, ErrorCode, type CallToolResult, type ProgressToken } from '@modelcontextprotocol/sdk/types.js';
import { KernelError, type Json, type JsonObject, type Port, type RequestView } from '../../kernel/index.ts';
import { isFinal, pendingResult, resultOf, withJson } from './tools.ts';
import { stopExecution, type Executions } from './executions.ts';
import { whenAborted } from '../../net/abort.ts';

/** How a `tools/call` becomes a kernel request, and how a call that needs a human is held and released. */

export interface HoldContext {
  port: Port;
  agentId: string;
  holdSeconds: number;
  /** Aborted when the client cancels the call (notifications/cancelled) or the session ends. */
  signal?: AbortSignal;
  /** True once the session has closed: the SDK aborts `signal` then too (a server restart or drain, a session ended). */
  sessionClosed?: () => boolean;
  /** Present when the client sent a progress token. */
  progress?: AgentProgress;
  /** Upstream progress of running executions, from connector hosts (absent where nothing feeds the gateway endpoint). */
  executions?: Executions;
  /** Aborted when the server stops: held calls are answered at once with their request's pending state. */
  stop?: AbortSignal;
}

/** A held request as last seen, and why holding it stopped early when it did (the server stopping, the kernel gone). */
export type Held = { view: RequestView; interrupted: string | null };

/**
 * The agent's one progress token for a call: the hold's own notices while a human decides, then the upstream
 * server's while the tool runs. MCP wants the value to increase with every notification, so upstream values follow on
 * from what the agent already heard (unchanged when nothing came before) and the hold falls silent once they flow.
 */
export interface AgentProgress {
  hold(elapsedSeconds: number, holdSeconds: number, message: string): Promise<void>;
  upstream(progress: number, total: number | null, message: string | null): Promise<void>;
}

const CANCELLED = 'cancelled by the agent (MCP client cancellation)';


/**
 * Progress notifications go out at least this often while a call with a progress token is held, which also keeps
 * client timeouts alive. A call without one hears nothing until the end (the transport's keep-alive holds the stream):
 * it waits in one slice, so a thousand held calls cost the kernel a look each rather than one every 5 s each.
 */
const SLICE_MS = 5_000;

/** `call`: this tools/call's id, which an execution run inside the submit carries (see `following`). */
export async function submit(port: Port, agentId: string, tool: string, args: JsonObject, call: string | null = null): Promise<RequestView> {
  return (await port.send('kernel', { op: 'request.submit', agentId, tool, args, call })) as unknown as RequestView;
}

/**
 * Runs `work` (a submit, or a hold) while following the execution named by `key` (`call:<id>`, `request:<id>`): its
 * upstream progress goes to the agent's token, and the agent's cancellation asks its connector to stop it.
 */
async function following<T>(ctx: HoldContext, tool: string, target: { call: string } | { requestId: string }, work: () => Promise<T>, onAbort = () => {}): Promise<T> {
  const key = 'call' in target ? `call:${target.call}` : `request:${target.requestId}`;
  const progress = ctx.progress;
  const unwatch = progress && ctx.executions ? ctx.executions.watch(key, ctx.agentId, (u) => void progress.upstream(u.progress, u.total, u.message).catch(() => {})) : () => {};
  // Only the client's own cancellation cancels (DESIGN: flows). The SDK also aborts every call when the session closes,
  // and drops the session's transport just after: a restart or a drain must leave the approval pending (for the human
  // to decide and the agent to pick up with countersign_await) and let a running execution finish.
  const abort = () =>
    queueMicrotask(() => {
      if (ctx.sessionClosed?.()) return;
      onAbort();
      void stopExecution(ctx.port, ctx.agentId, tool, target, CANCELLED).catch(() => {});
    });
  if (ctx.signal?.aborted) abort();
  else ctx.signal?.addEventListener('abort', abort, { once: true });
  try {
    return await work();
  } finally {
    ctx.signal?.removeEventListener('abort', abort);
    unwatch();
  }
}

export async function awaitSlice(port: Port, agentId: string, requestId: string, waitMs: number): Promise<RequestView> {
  return (await port.send('kernel', { op: 'request.await', requestId, agentId, waitMs })) as unknown as RequestView;
}

/**
 * Holds a non-final request up to `holdSeconds`, in slices so the client hears progress naming what the human is asked
 * to approve. A client cancellation cancels the pending approval in the kernel (which also wakes the wait).
 */
export async function hold(ctx: HoldContext, first: RequestView): Promise<Held> {
  let view = first;
  let interrupted: string | null = null;
  const started = Date.now();
  const deadline = started + ctx.holdSeconds * 1000;
  // A cancellation cancels the approval while it is pending, and stops the execution once it runs.
  const onAbort = () => void cancelPending(ctx.port, ctx.agentId, view.id, CANCELLED).catch(() => {});
  // One entry on the server's stop signal for the whole hold, removed when it ends: the signal lives as long as the
  // server and every held call waits on it, so it keeps one listener for all of them (net/abort.ts).
  let onStop = () => {};
  const stopped = new Promise<null>((resolve) => (onStop = () => resolve(null)));
  let unwatchStop = () => {};
  if (ctx.stop?.aborted) onStop();
  else if (ctx.stop) unwatchStop = whenAborted(ctx.stop, onStop);
  return following(ctx, first.body.tool, { requestId: first.id }, async () => {
    while (!isFinal(view) && Date.now() < deadline && !ctx.signal?.aborted && !interrupted) {
      if (ctx.progress) {
        const elapsed = Math.round((Date.now() - started) / 1000);
        await ctx.progress.hold(elapsed, ctx.holdSeconds, progressMessage(view)).catch(() => {});
      }
      // The request lives in the kernel's database, not in this call: when the server stops or loses its kernel, the
      // agent is answered with what it needs to pick the request up again, instead of a dropped connection.
      const slice = awaitSlice(ctx.port, ctx.agentId, view.id, Math.min(ctx.progress ? SLICE_MS : Infinity, deadline - Date.now()));
      const next = await Promise.race([slice, stopped]).catch((error: unknown) => {
        if (!(error instanceof KernelError)) throw error;
        interrupted = `Countersign could not follow the request (${error.message})`;
        return view;
      });
      if (next === null) interrupted = 'this Countersign server is stopping';
      else view = next;
    }
    return { view, interrupted };
  }, onAbort).finally(unwatchStop);
}

function progressMessage(view: RequestView): string {
  if (view.state !== 'pending') return `Request ${view.id} is ${view.state}: ${view.intent.summary}`;
  const where = view.approvalUrl ? ` at ${view.approvalUrl}` : '';
  return `Waiting for a human to approve: ${view.intent.summary} (approve or reject${where})`;
}

/** Cancels a request if it is still pending; a request that already moved on is left as it is. */
export async function cancelPending(port: Port, agentId: string, requestId: string, reason: string): Promise<void> {
  try {
    await port.send('kernel', { op: 'request.cancel', requestId, agentId, reason });
  } catch (error) {
    if (!(error instanceof KernelError && error.code === 'not_pending')) throw error;
  }
}

/** Arguments nested deeper than this are refused before anything reads them (no tool takes more than a few levels). */
const MAX_DEPTH = 64;

/** True when JSON nests deeper than `limit`; measured without recursion, so a hostile value cannot overflow the stack. */
export function nestsDeeper(value: unknown, limit: number): boolean {
  const todo: [unknown, number][] = [[value, 0]];
  while (todo.length > 0) {
    const [item, depth] = todo.pop()!;
    if (depth > limit) return true;
    if (item && typeof item === 'object') for (const child of Object.values(item)) todo.push([child, depth + 1]);
  }
  return false;
}

/** Submits, holds while a human decides, and shapes the outcome as a tool result (pending is not an error). */
export async function callTool(ctx: HoldContext, tool: string, args: JsonObject): Promise<CallToolResult> {
  if (nestsDeeper(args, MAX_DEPTH)) {
    const message = `invalid arguments for ${tool}: they nest deeper than ${MAX_DEPTH} levels; send the values the tool's input schema describes`;
    return withJson({ isError: true, content: [{ type: 'text', text: message }], structuredContent: { status: 'error', code: 'invalid_arguments', message } });
  }
  return guarded(async () => {
    // An allowed call runs inside the submit: it is followed by this call's id, as its request id is not known yet.
    const call = randomUUID();
    const view = await following(ctx, tool, { call }, () => submit(ctx.port, ctx.agentId, tool, args, call));
    const held = isFinal(view) ? { view, interrupted: null } : await hold(ctx, view);
    return isFinal(held.view) ? resultOf(held.view) : pendingResult(held.view, held.interrupted);
  });
}

/** `countersign_await {id}`: holds again on an earlier request of the same agent. */
export async function awaitTool(ctx: HoldContext, args: Record<string, unknown>): Promise<CallToolResult> {
  const id = args.id;
  if (typeof id !== 'string' || id === '') {
    return { isError: true, content: [{ type: 'text', text: 'invalid arguments for countersign_await: args.id: expected the approval_id string a pending call returned' }] };
  }
  return guarded(async () => {
    const held = await hold(ctx, await awaitSlice(ctx.port, ctx.agentId, id, 0));
    return held.interrupted && !isFinal(held.view) ? pendingResult(held.view, held.interrupted) : resultOf(held.view);
  });
}

/**
 * Kernel errors become tool errors the model can act on (bad arguments name the field), except an unknown tool,
 * which the MCP spec makes a protocol error (-32602).
 */
export async function guarded(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof KernelError) {
      if (error.code === 'unknown_tool') throw new McpError(ErrorCode.InvalidParams, error.message);
      return withJson({ isError: true, content: [{ type: 'text', text: error.message }], structuredContent: { status: 'error', code: error.code, message: error.message } });
    }
    throw error;
  }
}

type ProgressNotification = { method: 'notifications/progress'; params: { progressToken: ProgressToken; progress: number; total?: number; message?: string } };

export function progressSender(token: ProgressToken | undefined, send: (n: ProgressNotification) => Promise<void>): AgentProgress | undefined {
  if (token === undefined) return undefined;
  let last = -Infinity;
  let base: number | null = null;
  const out = (progress: number, total: number | null, message: string | null) => {
    if (!(progress > last)) return Promise.resolve();
    last = progress;
    const params = { progressToken: token, progress, ...(total !== null && total >= progress ? { total } : {}), ...(message ? { message } : {}) };
    return send({ method: 'notifications/progress', params });
  };
  return {
    hold: (elapsed, holdSeconds, message) => (base === null ? out(elapsed, holdSeconds, message) : Promise.resolve()),
    upstream(progress, total, message) {
      base ??= Math.max(last, 0);
      return out(base + progress, total === null ? null : base + total, message);
    },
  };
}

export function asArgs(value: unknown): JsonObject {
  return (value && typeof value === 'object' && !Array.isArray(value) ? value : {}) as { [k: string]: Json };
}
