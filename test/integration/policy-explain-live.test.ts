import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED } from '../../tools/stripe/sandbox/index.ts';
import { BIN, run, startServer, type ServerProcess } from '../support/cli-process.ts';
import { freePort } from '../support/harness.ts';
import { serverTimeout } from '../support/isolation-mode.ts';

/**
 * `countersign policy explain` asks the running server: its policy, the intent and pins the connector describes now,
 * and budgets as spent so far. The example config's small-refund rule reads `intent.pins.currency`, which only a live
 * describe knows; offline the output says the pins are unknown instead of calling the rule broken.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let server: ServerProcess | undefined;
const cli = (...args: string[]) => run([process.execPath, BIN, ...args], { cwd: dir, env });
const refund = ['policy', 'explain', '--tool', 'stripe_create_refund', '--args', JSON.stringify({ charge: SEED.janeCharge, amount: 2000 })];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-explain-'));
  env = { ...process.env, PORT: String(await freePort()), COUNTERSIGN_HOME: join(dir, '.countersign') };
  for (const key of ['DATABASE_URL', 'COUNTERSIGN_CONFIG', 'COUNTERSIGN_PUBLIC_URL']) delete env[key];
  server = await startServer({ cwd: dir, env });
}, serverTimeout(120_000));

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('policy explain against the running server', () => {
  it('uses live pins from the connector: a small USD refund is allowed by its rule', async () => {
    const live = await cli(...refund);
    expect(live.code, live.stdout + live.stderr).toBe(0);
    expect(live.stdout).toMatch(/^stripe_create_refund: ALLOW by rule small-refunds/m);
    expect(live.stdout).toContain('MATCH small-refunds');
    expect(live.stdout).toMatch(/live: the running server's policy \(version [0-9a-f]+\); intent and pins as the stripe connector \(SANDBOX\) describes this call now; budgets as spent so far/);
    const json = JSON.parse((await cli(...refund, '--json')).stdout) as { live: boolean; intent: { pins: Record<string, unknown> }; verdict: { decision: string } };
    expect(json).toMatchObject({ live: true, verdict: { decision: 'allow' } });
    expect(json.intent.pins).toMatchObject({ currency: 'USD', amount: 12_000 });
  });

  it('says what is wrong with arguments the connector refuses, as a submit would', async () => {
    const bad = await cli('policy', 'explain', '--tool', 'stripe_create_refund', '--args', JSON.stringify({ charge: SEED.janeCharge, amount: 999_999 }));
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/refund|amount/i);
  });

  it('offline (--offline, or no server) says the pins are unknown rather than that the rule is broken', async () => {
    const offline = await cli(...refund, '--offline');
    expect(offline.code, offline.stdout + offline.stderr).toBe(0);
    expect(offline.stdout).toContain('intent pins are unknown (pass --pins JSON to supply them)');
    expect(offline.stdout).not.toContain('live:');
    expect(offline.stdout).toContain('note: small-refunds reads intent pins, which only a running server knows');
  });
});
