import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'drizzle-orm';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDatabase, PGLITE_CONF, type Database } from '../../gateway/db.ts';

// Every spawn still runs; the spy only records who was started.
const spawned = vi.hoisted(() => [] as string[][]);
vi.mock('node:child_process', async (original) => {
  const real = await original<typeof import('node:child_process')>();
  return { ...real, spawn: (command: string, args: string[], options: object) => (spawned.push([command, ...args]), real.spawn(command, args, options)) };
});

async function show(database: Database, setting: string): Promise<string> {
  const result = await database.db.execute(sql.raw(`show ${setting}`));
  const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Record<string, string>[];
  return rows[0]![setting]!;
}

// Embedded PGlite as `countersign start` opens it on disk (bench/NOTES.md, eighth pass: its memory). The settings are
// what the gateway's resident memory was measured with; the cluster is created in a child process so that initdb's
// WebAssembly instance and its freed native memory never live in the gateway.
describe('embedded database on disk', () => {
  const home = mkdtempSync(join(tmpdir(), 'countersign-embedded-'));
  afterAll(() => rmSync(home, { recursive: true, force: true }));
  beforeEach(() => void (spawned.length = 0));

  it('creates a new cluster in a child process, then opens it here with 16 MB of shared buffers', { timeout: 180_000 }, async () => {
    expect(PGLITE_CONF).toEqual(['shared_buffers=16MB']);
    const database = await openDatabase({ dataDir: join(home, 'db') });
    try {
      expect(spawned).toHaveLength(1);
      expect(spawned[0]![0]).toBe(process.execPath);
      expect(spawned[0]).toContain(join(home, 'db', 'pgdata'));
      expect(await show(database, 'shared_buffers')).toBe('16MB');
    } finally {
      await database.close();
    }
  });

  it('reopens an existing cluster without a child, with the same settings', { timeout: 120_000 }, async () => {
    const database = await openDatabase({ dataDir: join(home, 'db') });
    try {
      expect(spawned).toEqual([]);
      expect(await show(database, 'shared_buffers')).toBe('16MB');
    } finally {
      await database.close();
    }
  });

  it('says why when the cluster cannot be created', { timeout: 120_000 }, async () => {
    const dataDir = join(home, 'blocked');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'pgdata'), 'a file where the cluster directory should be');
    const error = (await openDatabase({ dataDir }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(error.code).toBe('database_unavailable');
    expect(error.message).toMatch(/^cannot open the embedded database in .*blocked: creating the cluster failed \(exit code 1\): .+\. Check that/s);
    expect(error.message).not.toContain('[object Object]');
  });
});

/**
 * Which compiler compiled each function of the embedded database's WebAssembly module, in a child process that opens
 * an in-memory database through gateway/db.ts and runs `statements` pairs of statements (V8's own trace, one line per
 * function compiled). --wasm-tier-mask-for-testing=1 has V8 compile a module's first function with TurboFan at once
 * unless --liftoff-only is in effect, so the answer does not depend on how soon a tier-up would come.
 */
async function compilers(statements: number): Promise<{ code: number | null; output: string; database: string[] }> {
  const script = `
    import { setFlagsFromString } from 'node:v8';
    import { sql } from 'drizzle-orm';
    setFlagsFromString('--wasm-tier-mask-for-testing=1');
    const { openDatabase } = await import(${JSON.stringify(pathToFileURL(resolve('gateway/db.ts')).href)});
    const database = await openDatabase({ dataDir: null });
    await database.db.execute(sql.raw('create table t (id serial primary key, v jsonb)'));
    for (let i = 0; i < ${statements}; i++) {
      await database.db.execute(sql\`insert into t (v) values (\${JSON.stringify({ i })})\`);
      await database.db.execute(sql\`select count(*) from t where v->>'i' = \${String(i)}\`);
    }
    await database.close();`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--trace-wasm-compilation-times', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  // "Compiled function 0x7f2ee8001150#20 using TurboFan, ...": the module's address, the function's index, the compiler.
  const modules = new Map<string, string[]>();
  for (const [, module, compiler] of output.matchAll(/^Compiled function (0x[0-9a-f]+)#\d+ using (\w+)/gm)) {
    modules.set(module!, [...(modules.get(module!) ?? []), compiler!]);
  }
  // pglite.wasm is by far the largest module in the process (the others: Node's CommonJS lexer, undici's parser).
  const database = [...modules.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  return { code, output, database };
}

// V8 recompiles pglite.wasm's hot functions with TurboFan on its worker threads by default, and the native memory of
// those compilations stays with the process (bench/NOTES.md, ninth pass).
describe('embedded database: compiled by Liftoff only', () => {
  it('compiles none of its functions with TurboFan, however often they run', { timeout: 180_000 }, async () => {
    const { code, output, database } = await compilers(300);
    expect(code, output.slice(-2000)).toBe(0);
    expect(database.length).toBeGreaterThan(1000);
    expect(database.filter((compiler) => compiler !== 'Liftoff')).toEqual([]);
  });
});
