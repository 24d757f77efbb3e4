import { KernelError, type Envelope, type Json, type Port, type ToolInfo } from '../../kernel/index.ts';

/**
 * The executions the gateway's calls follow while they run upstream. The connector host running one tells the
 * `gateway` endpoint its upstream progress (tools/executions.ts), naming the request and, for a call allowed at once,
 * the gateway's own id of that tools/call (`call`, passed through the kernel with the request); a call or a hold
 * watching either key for that agent passes it on to the agent. Stopping goes the other way (`stopExecution`).
 */

/** The closed set of messages the gateway endpoint accepts: from a connector host, an execution's upstream progress. */
export type GatewayMessage = { op: 'execution.progress'; agentId: string; requestId: string; call: string | null; progress: number; total: number | null; message: string | null };

export type UpstreamProgress = { progress: number; total: number | null; message: string | null };
type Watcher = { agentId: string; listener: (update: UpstreamProgress) => void };

export interface Executions {
  /** The `gateway` endpoint's handler. */
  handle(envelope: Envelope): Promise<Json>;
  /** Passes progress of the execution named by `key` (`call:<id>` or `request:<id>`) of `agentId` to `listener`, until called back. */
  watch(key: string, agentId: string, listener: Watcher['listener']): () => void;
}

export function createExecutions(): Executions {
  const watching = new Map<string, Set<Watcher>>();
  return {
    async handle({ from, body }) {
      const m = body as GatewayMessage;
      if (m.op !== 'execution.progress' || !from.startsWith('connector.')) throw new KernelError('bad_request', `unknown gateway op "${String(m.op)}"`);
      if (typeof m.progress !== 'number') throw new KernelError('bad_request', 'execution.progress needs a number');
      const update = { progress: m.progress, total: typeof m.total === 'number' ? m.total : null, message: typeof m.message === 'string' ? m.message : null };
      const watchers = [...((m.call && watching.get(`call:${m.call}`)) || []), ...(watching.get(`request:${m.requestId}`) ?? [])];
      // The agent named by the host that runs the execution: never another agent's session.
      const mine = watchers.filter((w) => w.agentId === m.agentId);
      for (const w of mine) w.listener(update);
      return mine.length > 0;
    },
    watch(key, agentId, listener) {
      const watcher = { agentId, listener };
      const set = watching.get(key) ?? new Set();
      set.add(watcher);
      watching.set(key, set);
      return () => {
        set.delete(watcher);
        if (set.size === 0 && watching.get(key) === set) watching.delete(key);
      };
    },
  };
}

/**
 * Asks the connector that serves `tool` to stop the agent's execution named by `target` (the gateway's call id, or a
 * request id). It stops only an execution of that agent; one not started yet under that call is refused when it comes.
 */
export async function stopExecution(port: Port, agentId: string, tool: string, target: { call?: string; requestId?: string }, reason: string): Promise<void> {
  const tools = (await port.send('kernel', { op: 'tools.list' })) as unknown as ToolInfo[];
  const connector = tools.find((t) => t.name === tool)?.connector;
  if (!connector) return;
  await port.send(`connector.${connector}`, { op: 'execution.cancel', agentId, requestId: target.requestId ?? null, call: target.call ?? null, reason });
}
