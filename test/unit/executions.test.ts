import { describe, expect, it } from 'vitest';
import { CAPABILITIES, createRouter, type Json } from '../../kernel/index.ts';
import { createExecutions } from '../../tools/executions.ts';
import { createExecutions as createGatewayExecutions } from '../../gateway/mcp/executions.ts';
import { progressSender } from '../../gateway/mcp/calls.ts';

// The two ends of an execution an agent's call follows: the connector host's (tools/executions.ts) and the gateway's
// (gateway/mcp/executions.ts, calls.ts), on a real router with the real capability lists.

function wired() {
  const router = createRouter(async () => {});
  const gateway = createGatewayExecutions();
  router.register('gateway', (envelope) => gateway.handle(envelope), CAPABILITIES.gateway);
  const host = createExecutions(router.register('connector.test', async () => null, CAPABILITIES.connector));
  return { gateway, host };
}
const tick = () => new Promise((ok) => setTimeout(ok, 10));

describe('executions an agent follows', () => {
  it("passes a host's progress to the agent whose call (or request) it is, and to no other agent", async () => {
    const { gateway, host } = wired();
    const heard: Json[] = [];
    const stranger: Json[] = [];
    gateway.watch('call:c1', 'agent-a', (u) => heard.push(u));
    gateway.watch('call:c1', 'agent-b', (u) => stranger.push(u));
    const run = host.start('req_1', 'agent-a', 'c1');
    run.progress({ progress: 1, total: 2, message: 'half' });
    await tick();
    expect(heard).toEqual([{ progress: 1, total: 2, message: 'half' }]);
    expect(stranger).toEqual([]);
    run.end();
  });

  it('stops only the named agent’s execution, and refuses a call cancelled before its execution arrived', () => {
    const { host } = wired();
    const running = host.start('req_1', 'agent-a', 'c1');
    expect(host.cancel({ op: 'execution.cancel', agentId: 'agent-b', requestId: 'req_1', call: null, reason: 'not yours' })).toBe(false);
    expect(running.signal.aborted).toBe(false);
    expect(host.cancel({ op: 'execution.cancel', agentId: 'agent-a', requestId: 'req_1', call: null, reason: 'stop' })).toBe(true);
    expect(running.signal.reason).toBe('stop');
    expect(host.cancel({ op: 'execution.cancel', agentId: 'agent-a', requestId: null, call: 'c2', reason: 'too late' })).toBe(false);
    expect(host.start('req_2', 'agent-a', 'c2').signal.aborted).toBe(true);
    expect(host.start('req_3', 'agent-a', 'c3').signal.aborted).toBe(false);
  });

  it('keeps progress increasing on one token: upstream values follow on from the hold’s notices, which then fall silent', async () => {
    const sent: { progress: number; total?: number; message?: string }[] = [];
    const progress = progressSender('tok', async (n) => void sent.push(n.params))!;
    await progress.hold(0, 25, 'waiting');
    await progress.hold(5, 25, 'waiting');
    await progress.hold(5, 25, 'waiting'); // not an increase: dropped
    await progress.upstream(1, 3, 'step 1');
    await progress.hold(10, 25, 'waiting');
    await progress.upstream(3, 3, 'step 3');
    expect(sent).toEqual([
      { progressToken: 'tok', progress: 0, total: 25, message: 'waiting' },
      { progressToken: 'tok', progress: 5, total: 25, message: 'waiting' },
      { progressToken: 'tok', progress: 6, total: 8, message: 'step 1' },
      { progressToken: 'tok', progress: 8, total: 8, message: 'step 3' },
    ]);
    const direct: number[] = [];
    const allowed = progressSender(7, async (n) => void direct.push(n.params.progress))!;
    await allowed.upstream(1, null, null);
    await allowed.upstream(2, null, null);
    expect(direct).toEqual([1, 2]); // nothing before: the server's own values
  });
});
