import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { eq } from 'drizzle-orm';
import { schema } from '../../kernel/index.ts';
import { createServices, type Services } from '../../gateway/app.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
import { startStack, type Stack } from '../support/harness.ts';

/**
 * Recovery touches only what a connector in its own process can finish. A CLI command run while the server is stopped
 * starts the kernel without connectors (so it starts in a moment and sends nothing upstream); its recovery must not
 * fail an approved request ("the connector is not running") or mark a lapsed execution unknown that it cannot settle.
 * The server that serves the tool then finishes both.
 */

const effects: string[] = [];
const write = defineTool({
  name: 'scope_write', title: 'Write', description: 'A write', input: z.object({ n: z.number() }), impact: 'write', consequence: 'writes',
  describe: async (args) => ({ summary: `Write ${args.n}`, consequence: 'writes', reversible: true, fields: [], pins: {} }),
  execute: async (_args, ctx) => {
    effects.push(ctx.requestId);
    return { data: { wrote: ctx.requestId }, text: 'written' };
  },
  reconcile: async (_args, ctx) => (effects.includes(ctx.requestId) ? { data: { wrote: ctx.requestId }, text: 'found' } : null),
});
const connector: Connector = { name: 'scope', sandbox: true, tools: [write] };

// A long lease: the test, not the periodic recovery, decides when each process recovers.
const CONFIG = `
leaseSeconds: 600
policy:
  default: approve
`;

let stack: Stack;
let bare: Services | undefined;
let agentId: string;

beforeAll(async () => {
  stack = await startStack({ config: CONFIG, connectors: [connector] });
  ({ agentId } = await stack.addAgent('scope-agent', 'owner@example.com'));
});
afterAll(async () => {
  await bare?.close();
  await stack?.close();
});

const row = async (id: string) => (await stack.services.database.db.select().from(schema.requests).where(eq(schema.requests.id, id)))[0]!;

describe('recovery without the connector', () => {
  it('leaves an orphaned approval and a lapsed execution alone; the server with the connector finishes both', async () => {
    const owner = await stack.enrollApprover('owner@example.com');
    const orphan = await stack.submit(agentId, 'scope_write', { n: 1 });
    const lapsed = await stack.submit(agentId, 'scope_write', { n: 2 });
    // As if the server died: one approval nobody picked up, one execution whose owner's lease ran out.
    const db = stack.services.database.db;
    await db.update(schema.requests).set({ state: 'approved', updatedAt: new Date(0) }).where(eq(schema.requests.id, orphan.id));
    await stack.decide(owner, lapsed.id, 'approve');
    await stack.awaitRequest(agentId, lapsed.id, 10_000);
    await db.update(schema.requests).set({ state: 'executing', result: null, leaseOwner: 'gone', leaseUntil: new Date(0) }).where(eq(schema.requests.id, lapsed.id));
    const before = [await row(orphan.id), await row(lapsed.id)];

    // A command's kernel: same database, no connectors.
    const home = mkdtempSync(join(tmpdir(), 'countersign-scope-'));
    writeFileSync(join(home, 'countersign.yaml'), CONFIG);
    bare = await createServices({ home, configPath: join(home, 'countersign.yaml'), publicUrl: 'http://localhost:9', port: 9, host: '127.0.0.1', connectors: [], database: stack.services.database });
    await bare.kernel.recover();
    const after = [await row(orphan.id), await row(lapsed.id)];
    expect(after.map((r) => [r.state, r.leaseOwner, r.attempt])).toEqual(before.map((r) => [r.state, r.leaseOwner, r.attempt]));
    expect(after[0]!.error).toBeNull();

    // The server that serves scope_write: the approval runs once, the lapsed execution is found upstream.
    await stack.services.kernel.recover();
    expect((await stack.awaitRequest(agentId, orphan.id, 10_000)).state).toBe('succeeded');
    expect((await stack.awaitRequest(agentId, lapsed.id, 10_000)).state).toBe('succeeded');
    expect(effects.filter((id) => id === orphan.id)).toHaveLength(1);
    expect(effects.filter((id) => id === lapsed.id)).toHaveLength(1);
  });
});
