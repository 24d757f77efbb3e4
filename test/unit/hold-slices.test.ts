import { getEventListeners } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Json, Message, Port, RequestView } from '../../kernel/index.ts';
import { hold, type AgentProgress } from '../../gateway/mcp/calls.ts';
import { underWay } from '../../net/abort.ts';

// How the edge holds a call while a human decides (gateway/mcp/calls.ts): each `request.await` it sends the kernel is
// a look at the request in the database. A call with a progress token hears a notice at least every 5 s, so it waits in
// 5 s slices; a call without one has nothing to hear until the end and waits in one, so a thousand held calls do not
// cost the kernel 200 looks a second.

const pending = { id: 'req_1', state: 'pending', body: { tool: 'github_merge_pr' }, intent: { summary: 'Merge PR 42' }, approvalUrl: null } as unknown as RequestView;

/** A kernel that keeps the request pending: each request.await answers when its wait is over. */
function kernel(): Port & { waits: number[] } {
  const waits: number[] = [];
  return {
    name: 'edge',
    waits,
    async send<T extends Json = Json>(_to: string, body: Message): Promise<T> {
      const { op, waitMs } = body as { op: string; waitMs: number };
      if (op !== 'request.await') throw new Error(`unexpected ${op}`);
      waits.push(waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      return pending as unknown as T;
    },
  };
}

beforeEach(() => void vi.useFakeTimers());
afterEach(() => void vi.useRealTimers());

describe('holding a call while a human decides', () => {
  it('waits in one look when the client sent no progress token', async () => {
    const port = kernel();
    const held = hold({ port, agentId: 'agt_1', holdSeconds: 25 }, pending);
    await vi.advanceTimersByTimeAsync(25_000);
    await expect(held).resolves.toMatchObject({ view: { state: 'pending' }, interrupted: null });
    expect(port.waits).toEqual([25_000]);
  });

  it('waits in 5 s slices with a notice before each when the client sent one', async () => {
    const port = kernel();
    const notices: number[] = [];
    const progress: AgentProgress = { hold: async (elapsed) => void notices.push(elapsed), upstream: async () => {} };
    const held = hold({ port, agentId: 'agt_1', holdSeconds: 12, progress }, pending);
    await vi.advanceTimersByTimeAsync(12_000);
    await expect(held).resolves.toMatchObject({ view: { state: 'pending' }, interrupted: null });
    expect(port.waits).toEqual([5_000, 5_000, 2_000]);
    expect(notices).toEqual([0, 5, 10]);
  });

  it('still answers at once when the server stops during a long look', async () => {
    const port = kernel();
    const stop = new AbortController();
    const held = hold({ port, agentId: 'agt_1', holdSeconds: 300, stop: stop.signal }, pending);
    await vi.advanceTimersByTimeAsync(1_000);
    stop.abort();
    await expect(held).resolves.toMatchObject({ interrupted: 'this Countersign server is stopping' });
    expect(port.waits).toEqual([300_000]);
  });

  it("keeps one listener on the server's stop signal however many calls it holds, and none once they end", async () => {
    const port = kernel();
    const stop = new AbortController();
    const warnings: Error[] = [];
    const warned = (w: Error) => void warnings.push(w);
    process.on('warning', warned);
    try {
      const held = Array.from({ length: 50 }, () => hold({ port, agentId: 'agt_1', holdSeconds: 60, stop: stop.signal }, pending));
      await vi.advanceTimersByTimeAsync(1_000);
      expect([getEventListeners(stop.signal, 'abort').length, underWay(stop.signal)]).toEqual([1, 50]);
      stop.abort();
      expect((await Promise.all(held)).every((h) => h.interrupted === 'this Countersign server is stopping')).toBe(true);
      expect(underWay(stop.signal)).toBe(0);
      const quiet = new AbortController();
      await Promise.all([hold({ port, agentId: 'agt_1', holdSeconds: 2, stop: quiet.signal }, pending), vi.advanceTimersByTimeAsync(2_000)]);
      expect(underWay(quiet.signal)).toBe(0);
      await vi.advanceTimersByTimeAsync(0);
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', warned);
    }
  });
});
