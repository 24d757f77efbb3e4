import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
