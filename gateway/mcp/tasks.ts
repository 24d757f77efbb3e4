import { InMemoryTaskStore } from '@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js';
import type { CreateTaskResult } from '@modelcontextprotocol/sdk/experimental/tasks/types.js';
import type { RequestTaskStore } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, Task } from '@modelcontextprotocol/sdk/types.js';
import type { JsonObject, Port } from '../../kernel/index.ts';
import { randomUUID } from 'node:crypto';
import { awaitSlice, cancelPending, guarded, submit } from './calls.ts';
import { stopExecution } from './executions.ts';
import { isFinal, resultOf } from './tools.ts';

/**
 * Task-based execution (MCP tasks, the SDK's experimental API) for clients that declare the capability: the call
 * returns a task at once; the task stays `working` while the human decides and ends `completed` (or `failed` when the
 * result is an error). `tasks/cancel` cancels the pending approval in the kernel, or stops the execution once it runs.
 */

/** Long enough to outlive the longest approval window; the SDK store forgets tasks after their TTL. */
const MIN_TTL_MS = 2 * 60 * 60 * 1000;
const WAIT_SLICE_MS = 30_000;

/** An in-memory task store (one per session) that tells its owner when a client cancels a task. */
export class CancellableTaskStore extends InMemoryTaskStore {
  private readonly onCancel = new Map<string, () => void>();

  whenCancelled(taskId: string, run: () => void): void {
    this.onCancel.set(taskId, run);
  }

  forget(taskId: string): void {
    this.onCancel.delete(taskId);
  }

  override async updateTaskStatus(taskId: string, status: Task['status'], statusMessage?: string, sessionId?: string): Promise<void> {
    await super.updateTaskStatus(taskId, status, statusMessage, sessionId);
    if (status === 'cancelled') {
      this.onCancel.get(taskId)?.();
      this.onCancel.delete(taskId);
    }
  }
}

export interface TaskCall {
  port: Port;
  agentId: string;
  store: CancellableTaskStore;
  requestStore: RequestTaskStore;
  requestedTtl?: number | null;
}

/** Starts a task for a tool call and runs the kernel request behind it; returns the task at once. */
export async function startToolTask(call: TaskCall, tool: string, args: JsonObject): Promise<CreateTaskResult> {
  const ttl = Math.max(call.requestedTtl ?? 0, MIN_TTL_MS);
  const task = await call.requestStore.createTask({ ttl, pollInterval: 1000 });
  void runTask(call, task.taskId, tool, args).catch(async (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    await finish(call, task.taskId, { isError: true, content: [{ type: 'text', text: message }] });
  });
  return { task };
}

async function runTask(call: TaskCall, taskId: string, tool: string, args: JsonObject): Promise<void> {
  let cancelled = false;
  let requestId: string | null = null;
  const callId = randomUUID();
  const why = 'cancelled by the agent (MCP tasks/cancel)';
  call.store.whenCancelled(taskId, () => {
    cancelled = true;
    if (requestId) void cancelPending(call.port, call.agentId, requestId, why).catch(() => {});
    void stopExecution(call.port, call.agentId, tool, requestId ? { requestId } : { call: callId }, why).catch(() => {});
  });
  let final: CallToolResult | null = null;
  const result = await guarded(async () => {
    let view = await submit(call.port, call.agentId, tool, args, callId);
    requestId = view.id;
    if (cancelled && !isFinal(view)) await cancelPending(call.port, call.agentId, view.id, 'cancelled by the agent (MCP tasks/cancel)');
    if (view.state === 'pending') {
      const where = view.approvalUrl ? ` at ${view.approvalUrl}` : '';
      await call.requestStore.updateTaskStatus(taskId, 'working', `Waiting for a human to approve: ${view.intent.summary}${where}`).catch(() => {});
    }
    while (!isFinal(view)) view = await awaitSlice(call.port, call.agentId, view.id, WAIT_SLICE_MS);
    final = resultOf(view);
    return final;
  });
  call.store.forget(taskId);
  if (!cancelled) await finish(call, taskId, final ?? result);
}

async function finish(call: TaskCall, taskId: string, result: CallToolResult): Promise<void> {
  const task = await call.requestStore.getTask(taskId).catch(() => null);
  if (!task || task.status === 'cancelled' || task.status === 'completed' || task.status === 'failed') return;
  await call.requestStore.storeTaskResult(taskId, result.isError ? 'failed' : 'completed', result);
}
