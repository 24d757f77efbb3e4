import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { openChannel, type Channel } from '../../gateway/isolation/channel.ts';
import { toolInfo, validate } from '../../tools/host.ts';
import type { Connector, ExecuteContext, ToolSpec } from '../../tools/spec.ts';
import { KernelError, asKernelError, type Json, type ToolInfo, type ToolResult, type JsonObject, type Message, type Reply } from '../../kernel/index.ts';

/**
 * A test's connector, served by an executor in another process (COUNTERSIGN_TEST_ISOLATION=process). The executor
 * child runs the real executor boundary (gateway/isolation/executor-process.ts: its channel to the kernel, grant
 * verification with the kernel's public key, the grant journal, pins); what it cannot hold is the test's closures, so
 * each tool's body (`describe`, `execute`, `reconcile`, `check`) runs back in the test process, over a second socket,
 * as an upstream API would: the test still sees what ran (`executions`, `notes`) where it looks for it.
 */

/** What the child needs to know of a tool without its code: what `tools.list` says of it, and which bodies it has. */
export type ToolManifest = Omit<ToolInfo, 'connector' | 'sandbox'> & { rerunSafe: string | null; reconcile: boolean; check: boolean };

export interface ConnectorManifest {
  name: string;
  sandbox: boolean;
  tools: ToolManifest[];
}

export function manifestOf(connector: Connector): ConnectorManifest {
  return {
    name: connector.name,
    sandbox: connector.sandbox,
    tools: connector.tools.map((tool) => {
      const { connector: _connector, sandbox: _sandbox, ...info } = toolInfo(connector, tool);
      return { ...info, rerunSafe: tool.rerunSafe ?? null, reconcile: Boolean(tool.reconcile), check: Boolean(tool.check) };
    }),
  };
}

type BodyCall =
  | { op: 'describe'; tool: string; args: JsonObject }
  | { op: 'execute'; tool: string; args: JsonObject; ctx: JsonObject; call: string }
  | { op: 'abort'; call: string; reason: string }
  | { op: 'reconcile'; tool: string; args: JsonObject; ctx: JsonObject }
  | { op: 'check'; tool: string; args: JsonObject };

/** Key order aside, the same JSON (JCS would refuse the unpaired surrogates some tests send on purpose). */
const same = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v));

const answer = async (work: () => Promise<Json | undefined>): Promise<Reply> => {
  try {
    return { ok: true, value: (await work()) ?? null };
  } catch (error) {
    return { ok: false, error: asKernelError(error).toJSON() };
  }
};

/** Test process: runs the tools' bodies for the executor child at the other end of `socket`. */
export function serveToolBodies(connector: Connector, socket: Duplex): Channel {
  const running = new Map<string, AbortController>();
  const spec = (name: string): ToolSpec => {
    const tool = connector.tools.find((t) => t.name === name);
    if (!tool) throw new KernelError('unknown_tool', `connector ${connector.name} has no tool "${name}"`);
    return tool;
  };
  // A test that changes its connector's tool list (as a downstream MCP server's changes) has the executor's follow.
  let tools = connector.tools;
  Object.defineProperty(connector, 'tools', {
    get: () => tools,
    set(next: ToolSpec[]) {
      tools = next;
      void channel.call('upstream', 'executor', { op: 'tools', tools: manifestOf(connector).tools as unknown as JsonObject[] });
    },
  });
  const channel: Channel = openChannel(socket, (_from, _to, body) =>
    answer(async () => {
      const m = body as BodyCall;
      if (m.op === 'abort') return void running.get(m.call)?.abort(m.reason);
      const tool = spec(m.tool);
      const args = validate(tool, m.args);
      if (m.op === 'describe') return { args, described: (await tool.describe(args)) as unknown as JsonObject };
      if (m.op === 'check') return tool.check?.(args) ?? null;
      const ctx = m.ctx as unknown as ExecuteContext;
      if (m.op === 'reconcile') return (await tool.reconcile?.(args, ctx)) as unknown as JsonObject | null;
      const controller = new AbortController();
      running.set(m.call, controller);
      const progress: ExecuteContext['progress'] = (update) => void channel.call('upstream', 'executor', { op: 'progress', call: m.call, ...update });
      try {
        return (await tool.execute(args, { ...ctx, signal: controller.signal, progress })) as unknown as JsonObject;
      } finally {
        running.delete(m.call);
      }
    }),
  );
  return channel;
}

/** Executor child: a Connector whose tools' bodies are the test process's, reached over `socket`. */
export function remoteToolBodies(manifest: ConnectorManifest, socket: Duplex, onToolsChanged: () => void): { connector: Connector; channel: Channel } {
  const progress = new Map<string, NonNullable<ExecuteContext['progress']>>();
  const channel = openChannel(socket, (_from, _to, body) =>
    answer(async () => {
      if (body.op === 'progress' && typeof body.call === 'string') progress.get(body.call)?.(body as unknown as Parameters<NonNullable<ExecuteContext['progress']>>[0]);
      if (body.op === 'tools') {
        connector.tools = (body.tools as unknown as ToolManifest[]).map(remoteTool);
        onToolsChanged();
      }
      return null;
    }),
  );
  const call = async <T extends Json>(body: Message): Promise<T> => {
    const reply = await channel.call('executor', 'upstream', body);
    if (!reply.ok) throw new KernelError(reply.error.code as KernelError['code'], reply.error.message);
    return reply.value as T;
  };
  const plain = (ctx: ExecuteContext): JsonObject => ({ requestId: ctx.requestId, idempotencyKey: ctx.idempotencyKey, pins: ctx.pins, marker: ctx.marker });
  const checks = new Map<string, string>();
  const remoteTool = (m: ToolManifest): ToolSpec => ({
    name: m.name,
    title: m.title,
    description: m.description,
    // Lists as the test's schema does; the arguments are validated by the test's own schema in `describe` below.
    input: z.looseObject({}).meta(m.inputSchema),
    impact: m.impact,
    consequence: m.consequence,
    ...(m.rerunSafe ? { rerunSafe: m.rerunSafe } : {}),
    async describe(args) {
      const reply = await call<{ args: JsonObject; described: JsonObject }>({ op: 'describe', tool: m.name, args: args as JsonObject });
      // The host sends the kernel the arguments as this schema parsed them; a test schema that changes them (a default,
      // a stripped key) would make the request differ from one process, so such a test cannot run here: say so.
      if (same(reply.args) !== same(args)) throw new Error(`test harness: ${m.name}'s schema changes its arguments (${same(args)} -> ${same(reply.args)}); pass them as parsed to run with executors in a child`);
      return reply.described as never;
    },
    async execute(args, ctx) {
      const id = randomUUID();
      if (ctx.progress) progress.set(id, ctx.progress);
      const abort = () => void call({ op: 'abort', call: id, reason: String(ctx.signal?.reason) }).catch(() => {});
      ctx.signal?.addEventListener('abort', abort);
      try {
        return await call<ToolResult & JsonObject>({ op: 'execute', tool: m.name, args: args as JsonObject, ctx: plain(ctx), call: id });
      } finally {
        ctx.signal?.removeEventListener('abort', abort);
        progress.delete(id);
      }
    },
    ...(m.reconcile
      ? {
          async reconcile(args: JsonObject, ctx: ExecuteContext) {
            // `check` is synchronous in the host: fetch it first, for the `cannot_tell` answer that may follow.
            if (m.check) checks.set(`${m.name} ${same(args)}`, await call<string>({ op: 'check', tool: m.name, args }));
            return call<(ToolResult & JsonObject) | null>({ op: 'reconcile', tool: m.name, args, ctx: plain(ctx) });
          },
        }
      : {}),
    ...(m.check ? { check: (args: JsonObject) => checks.get(`${m.name} ${same(args)}`) ?? `the upstream system for ${m.name}` } : {}),
  });
  const connector: Connector = { name: manifest.name, sandbox: manifest.sandbox, tools: manifest.tools.map(remoteTool) };
  return { connector, channel };
}
