import type { Port } from '../kernel/index.ts';

/**
 * The executions a connector host is running now, so the agent that asked can hear their upstream progress and stop
 * them. Progress goes to the gateway (`execution.progress`), one message in flight per execution and the latest value
 * kept, so a chatty upstream cannot flood the router. The gateway's `execution.cancel` aborts the signal the tool was
 * given; what that means for the outcome (nothing ran, failed, or unknown) is the tool's to say. A cancel that arrives
 * before its call's execution (the kernel was still describing or deciding) is kept a while, and refuses it when it comes.
 */

/** What a host accepts from the gateway besides the kernel's ConnectorMessage: stop one of an agent's executions. */
export type ExecutionCancel = { op: 'execution.cancel'; agentId: string; requestId: string | null; call: string | null; reason: string };

/** Upstream progress as MCP reports it (`notifications/progress` without the token). */
export type Progress = { progress: number; total?: number; message?: string };

export interface Execution {
  /** Aborted, with the agent's reason, when the agent cancels its call. */
  signal: AbortSignal;
  progress(update: Progress): void;
  end(): void;
}

const EARLY_MS = 5 * 60_000;
const MAX_EARLY = 10_000;

export function createExecutions(port: Port) {
  const running = new Map<string, { agentId: string; call: string | null; controller: AbortController }>();
  const early = new Map<string, { agentId: string; reason: string; until: number }>();

  function start(requestId: string, agentId: string, call: string | null): Execution {
    const controller = new AbortController();
    const cancelled = call ? early.get(call) : undefined;
    if (call) early.delete(call);
    if (cancelled && cancelled.agentId === agentId && cancelled.until > Date.now()) controller.abort(cancelled.reason);
    const entry = { agentId, call, controller };
    running.set(requestId, entry);
    let sending = false;
    let latest: Progress | null = null;
    const send = (p: Progress) =>
      port.send('gateway', {
        op: 'execution.progress',
        agentId,
        requestId,
        call,
        progress: p.progress,
        total: typeof p.total === 'number' ? p.total : null,
        message: typeof p.message === 'string' ? p.message.slice(0, 1000) : null,
      });
    return {
      signal: controller.signal,
      progress(update) {
        if (controller.signal.aborted || !Number.isFinite(update.progress)) return;
        latest = update;
        if (sending) return;
        sending = true;
        void (async () => {
          while (latest) {
            const next: Progress = latest;
            latest = null;
            await send(next).catch(() => {}); // nobody following (no gateway, the agent gone): progress is best effort
          }
          sending = false;
        })();
      },
      end() {
        if (running.get(requestId) === entry) running.delete(requestId);
      },
    };
  }

  /** True when an execution of that agent was running and is now told to stop. */
  function cancel(m: ExecutionCancel): boolean {
    const reason = String(m.reason).slice(0, 200);
    for (const [requestId, r] of running) {
      if (r.agentId !== m.agentId || !(requestId === m.requestId || (m.call !== null && r.call === m.call))) continue;
      r.controller.abort(reason);
      return true;
    }
    if (typeof m.call === 'string') {
      const now = Date.now();
      for (const [call, e] of early) if (e.until <= now || early.size >= MAX_EARLY) early.delete(call);
      early.set(m.call, { agentId: m.agentId, reason, until: now + EARLY_MS });
    }
    return false;
  }

  return { start, cancel };
}
