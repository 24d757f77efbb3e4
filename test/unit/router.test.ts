import { describe, expect, it } from 'vitest';
import { KernelError, allows, createRouter, type Envelope } from '../../kernel/index.ts';

describe('router', () => {
  it('stamps the sender: a handler sees the port it came from, whatever the body claims', async () => {
    const router = createRouter(async () => {});
    const seen: Envelope[] = [];
    router.register('kernel', async (envelope) => (seen.push(envelope), 'ok'), []);
    const gateway = router.register('gateway', async () => null, ['kernel:request.submit']);
    await gateway.send('kernel', { op: 'request.submit', from: 'web', sender: 'admin' });
    expect(seen[0].from).toBe('gateway');
    expect(seen[0].to).toBe('kernel');
  });

  it('refuses a message without the capability, and reports every refusal alike', async () => {
    const refusals: { from: string; to: string; op: string; reason: string }[] = [];
    const router = createRouter(async (refusal) => void refusals.push(refusal));
    router.register('kernel', async () => 'ok', []);
    const gateway = router.register('gateway', async () => null, ['kernel:request.*']);
    await expect(gateway.send('kernel', { op: 'approval.decide' })).rejects.toMatchObject({ code: 'capability_refused' });
    const unknown = await gateway.send('nowhere', { op: 'request.submit' }).catch((e: KernelError) => e);
    expect(unknown).toBeInstanceOf(KernelError);
    expect((unknown as KernelError).message).toBe('gateway may not send request.submit to nowhere');
    expect(await router.deliver('intruder', 'kernel', { op: 'request.submit' })).toMatchObject({ ok: false, error: { code: 'capability_refused' } });
    expect(refusals.map((r) => r.reason)).toEqual(['capability not held', 'no such endpoint', 'unknown sender']);
  });

  it('returns handler errors as plain data, with their codes', async () => {
    const router = createRouter(async () => {});
    router.register('kernel', async () => {
      throw new KernelError('not_pending', 'request r is succeeded');
    }, []);
    router.register('web', async () => null, ['kernel:*']);
    expect(await router.deliver('web', 'kernel', { op: 'approval.decide' })).toEqual({ ok: false, error: { code: 'not_pending', message: 'request r is succeeded' } });
  });

  it('matches capabilities by endpoint and op, with trailing wildcards only', () => {
    expect(allows(['connector.*:describe'], 'connector.github', 'describe')).toBe(true);
    expect(allows(['connector.*:describe'], 'connector.github', 'execute')).toBe(false);
    expect(allows(['kernel:request.*'], 'kernel', 'request.submit')).toBe(true);
    expect(allows(['kernel:request.*'], 'kernel', 'approval.decide')).toBe(false);
    expect(allows(['kernel:request.submit'], 'kernel2', 'request.submit')).toBe(false);
    expect(allows([], 'kernel', 'request.submit')).toBe(false);
  });

  it('refuses registering one name twice', () => {
    const router = createRouter(async () => {});
    router.register('kernel', async () => null, []);
    expect(() => router.register('kernel', async () => null, ['kernel:*'])).toThrow(/already registered/);
  });

  it('refuses a message without a string op before any handler runs, saying so', async () => {
    const refusals: { op: string }[] = [];
    const router = createRouter(async (refusal) => void refusals.push(refusal));
    let handled = 0;
    router.register('kernel', async () => ++handled, []);
    const web = router.register('web', async () => null, ['kernel:tools.list']);
    expect(web.name).toBe('web');
    expect(router.endpoints()).toEqual(['kernel', 'web']);
    for (const body of [{}, { op: 42 }, { op: '' }]) {
      await expect(web.send('kernel', body as never)).rejects.toMatchObject({ code: 'capability_refused', message: 'web may not send (no op) to kernel' });
    }
    // A transport may hand over no body at all: refused the same way, not a crash.
    expect(await router.deliver('web', 'kernel', undefined as never)).toEqual({ ok: false, error: { code: 'capability_refused', message: 'web may not send (no op) to kernel' } });
    expect(refusals.map((r) => r.op)).toEqual(['', '', '', '']);
    expect(handled).toBe(0);
    // The control: with an op, the same port reaches the handler and gets its answer.
    await expect(web.send('kernel', { op: 'tools.list' })).resolves.toBe(1);
  });
});
