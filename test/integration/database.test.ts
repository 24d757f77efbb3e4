import { describe, expect, it } from 'vitest';
import { openDatabase } from '../../gateway/db.ts';
import { dbKind, freshDatabase } from '../support/db.ts';
import { sql } from 'drizzle-orm';

describe('database', () => {
  it('says which PostgreSQL it could not reach and what to check, without the password', async () => {
    const error = await openDatabase({ url: 'postgres://app:hunter2@127.0.0.1:1/countersign' }).catch((e: Error) => e);
    expect(error).toMatchObject({ code: 'database_unavailable' });
    const message = (error as Error).message;
    expect(message).toContain('127.0.0.1:1');
    expect(message).toContain('Check that the server is running');
    expect(message).not.toContain('hunter2');
  });

  it(`migrates a fresh ${dbKind} database to the current schema`, async () => {
    const database = await freshDatabase();
    try {
      const tables = await database.db.execute(sql`select table_name from information_schema.tables where table_schema = 'public' order by 1`);
      const names = (Array.isArray(tables) ? tables : (tables as unknown as { rows: { table_name: string }[] }).rows).map((r) => (r as { table_name: string }).table_name);
      for (const table of ['agents', 'approvers', 'passkeys', 'requests', 'decisions', 'grants', 'spends', 'audit_entries', 'audit_checkpoints', 'web_sessions']) {
        expect(names).toContain(table);
      }
    } finally {
      await database.close();
    }
  });
});
