import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { createAuditLog, createNoteSigner, firstSeqSince, latestCheckpoint, readCheckpoints, readEntries, treeSize, verifyStored, type AuditEntry, type AuditFilter, type AuditLog, type Db, type JsonObject, type NoteSigner } from '../../kernel/index.ts';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { SQL } from 'drizzle-orm';
import type { Database } from '../../gateway/db.ts';
import { freshDatabase } from '../support/db.ts';

// The audit log's own contract on in-memory PGlite: what it refuses, how it ends, and that a failing batch is
// reported and retried with nothing lost. The sequencer's batching and the tree itself: test/integration/audit.test.ts.

// Several tests open their own PGlite (1 to 5 s each on a busy machine).
vi.setConfig({ testTimeout: 60_000 });

let database: Database;
let signer: NoteSigner;
const logs: AuditLog[] = [];
const open = (db: Db, options: Parameters<typeof createAuditLog>[2] = {}, as = signer) => {
  const log = createAuditLog(db, as, { idleMs: 50, ...options });
  logs.push(log);
  return log;
};
const entry = (n: number) => ({ kind: 'request.received', requestId: `req_${n}`, actor: 'agent:a1', data: { n } });

beforeAll(async () => {
  database = await freshDatabase();
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  signer = createNoteSigner('test.example/audit', privateKey, publicKey.export({ format: 'jwk' }) as JsonObject);
}, 120_000);
afterAll(async () => {
  for (const log of logs) await log.close();
  await database?.close();
});

describe('the audit log', () => {
  it('refuses a batch size that is not a positive whole number', () => {
    for (const maxBatch of [0, -1, 1.5]) {
      expect(() => createAuditLog(database.db, signer, { maxBatch })).toThrow(expect.objectContaining({ code: 'config_error', message: `maxBatch must be a positive integer, got ${maxBatch}` }));
    }
  });

  it('takes a batch of one, and an idle log (an empty queue, polled) reports no error and admits writers at once', async () => {
    const errors: unknown[] = [];
    const log = open(database.db, { maxBatch: 1, idleMs: 10, onError: (error) => errors.push(error) });
    let admitted = false;
    void log.admit().then(() => (admitted = true));
    await Promise.resolve();
    expect(admitted).toBe(true);
    await new Promise((done) => setTimeout(done, 200));
    expect(errors).toEqual([]);
    await log.close();
  });

  it('refuses entries that are not a list, takes an empty list as nothing, and refuses entries once closed', async () => {
    const log = open(database.db);
    await expect(log.append({ kind: 'x' } as never)).rejects.toMatchObject({ code: 'bad_request', message: 'append takes an array of audit entries' });
    expect(() => log.queued('x' as never)).toThrow('append takes an array of audit entries');
    expect(await log.sync()).toBeNull();
    await log.close();
    await log.append([]);
    await expect(log.append([entry(1)])).rejects.toMatchObject({ code: 'internal', message: 'the audit log is closed; nothing more can be appended' });
    expect(() => log.queued([entry(1)])).toThrow('the audit log is closed');
  });

  it('reports a batch that fails and integrates its entries on a later one', async () => {
    const errors: unknown[] = [];
    let failures = 2;
    const flaky: NoteSigner = { ...signer, sign: (text) => (failures-- > 0 ? (() => { throw new Error('signing key unavailable'); })() : signer.sign(text)) };
    const log = open(database.db, { onError: (error) => errors.push(error) }, flaky);
    await log.append([entry(1), entry(2)]);
    const started = Date.now();
    while (failures > 0 || !(await log.sync())) {
      expect(Date.now() - started).toBeLessThan(20_000);
      await new Promise((done) => setTimeout(done, 20));
    }
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect((errors[0] as Error).message).toBe('signing key unavailable');
    const seen: (string | null)[] = [];
    for await (const e of readEntries(database.db)) seen.push(e.requestId);
    expect(seen).toEqual(['req_1', 'req_2']);
    await log.close();
  });

  it('integrates nothing from a batch whose queued rows did not all move, says so, and integrates them all later', async () => {
    // A row the sequencer read but could not delete (a trigger stands in for anything else touching the queue): the
    // batch's entries would be numbered with a gap, so no checkpoint is stored and the whole batch stays queued.
    const own = await freshDatabase();
    logs.push({ close: () => own.close() } as AuditLog);
    const { sql } = await import('drizzle-orm');
    await own.db.execute(sql.raw(`create function keep_one() returns trigger language plpgsql as $$ begin if old.request_id = 'req_2' then return null; end if; return old; end $$`));
    await own.db.execute(sql.raw('create trigger keep_one before delete on audit_queue for each row execute function keep_one()'));
    const errors: unknown[] = [];
    const log = open(own.db, { idleMs: 3_600_000, kickMs: 3_600_000, onError: (error) => errors.push(error) });
    await log.append([entry(1), entry(2), entry(3)]);
    await expect(log.sync()).rejects.toMatchObject({ code: 'audit_broken', message: '3 queued audit entries changed while the sequencer held its lock (something else deletes from audit_queue); nothing was integrated, the batch is tried again' });
    expect(await treeSize(own.db)).toBe(0);
    await own.db.execute(sql.raw('drop trigger keep_one on audit_queue'));
    expect(await log.sync()).toMatchObject({ size: 3 });
    const seen: string[] = [];
    for await (const e of readEntries(own.db)) seen.push(`${e.seq}:${e.requestId}`);
    expect(seen).toEqual(['1:req_1', '2:req_2', '3:req_3']);
    await log.close();
  }, 120_000); // it creates its own PGlite: 10 to 20 s on a busy machine (test/mutation/README.md)

  it('refuses an append without a transaction when the database is gone, saying the database is unavailable', async () => {
    const gone = await freshDatabase();
    const log = open(gone.db, { idleMs: 3_600_000, onError: () => {} });
    await gone.close();
    const refused = await log.append([entry(1)]).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'database_unavailable', message: expect.stringMatching(/^audit append failed: /) });
    expect((refused as Error).cause).toBeInstanceOf(Error); // the driver's error, for the log
    await log.append([]); // an empty append touches no database, gone or not
    await log.close();
  }, 120_000); // its own PGlite, as above
});

describe('the sequencer loop', () => {
  const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
  /** A fresh database whose transactions (one per batch) can be held at a gate and are counted when done. */
  async function watched() {
    const own = await freshDatabase();
    logs.push({ close: () => own.close() } as AuditLog);
    const state = { batches: 0, started: [] as number[], gate: Promise.resolve(), after: async () => {} };
    const db = new Proxy(own.db, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key !== 'transaction') return typeof value === 'function' ? value.bind(target) : value;
        return async (work: Parameters<Db['transaction']>[0]) => {
          state.started.push(performance.now());
          await state.gate;
          const result = await target.transaction(work);
          state.batches++;
          await state.after();
          return result;
        };
      },
    });
    return { own, db, state };
  }

  it('runs the next batch at once for entries kicked while a batch ran, not after its idle wait', async () => {
    const { own, db, state } = await watched();
    const log = open(db, { idleMs: 3_600_000, kickMs: 20 });
    await vi.waitFor(() => expect(state.batches).toBe(1)); // the first look, at start, found nothing
    // During the next batch (after its rows moved), another entry is appended and its kick fires.
    let once = true;
    state.after = async () => {
      if (!once) return;
      once = false;
      await log.append([entry(2)]);
      await sleep(100);
    };
    await log.append([entry(1)]);
    await vi.waitFor(async () => expect(await treeSize(own.db)).toBe(2), { timeout: 10_000, interval: 50 });
    await log.close();
  });

  it('waits kickMs after an append before it integrates', async () => {
    const { own, db, state } = await watched();
    const log = open(db, { idleMs: 3_600_000, kickMs: 1000 });
    await vi.waitFor(() => expect(state.batches).toBe(1));
    await log.append([entry(1)]);
    await sleep(300);
    expect(await treeSize(own.db)).toBe(0);
    await vi.waitFor(async () => expect(await treeSize(own.db)).toBe(1), { timeout: 10_000, interval: 50 });
    await log.close();
  });

  it('runs 50 ms after an append by default (a round costs the same few round trips however many calls it takes)', async () => {
    const { own, db, state } = await watched();
    const log = open(db, { idleMs: 3_600_000 });
    await vi.waitFor(() => expect(state.batches).toBe(1));
    const appended = performance.now();
    await log.append([entry(1)]);
    await vi.waitFor(async () => expect(await treeSize(own.db)).toBe(1), { timeout: 10_000, interval: 20 });
    // A busy machine only makes a timer later; it can fire early by as much as the event loop's cached time is old
    // when it is set (libuv reads the clock once per turn), hence 40, which 20 (the old default) cannot reach.
    expect(state.started[1]! - appended).toBeGreaterThanOrEqual(40);
    await log.close();
  });

  it('lets writers held for backpressure go when it closes, without waiting for the batch under way', async () => {
    const { db, state } = await watched();
    // idleMs 3 s: a close() during a batch returns only after the loop's next idle wait (it does not look at `closed`
    // before it sleeps), so a long one would hold close() here.
    const log = open(db, { idleMs: 3000, kickMs: 3_600_000, maxBacklog: 0 });
    await vi.waitFor(() => expect(state.batches).toBe(1));
    await log.append([entry(1)]);
    await log.sync(); // a batch of 1 > maxBacklog 0: the log is behind, so writers wait for its next batch
    let letThrough!: () => void;
    state.gate = new Promise((done) => (letThrough = done));
    const admitted = log.admit().then(() => 'admitted');
    expect(await Promise.race([admitted, sleep(200).then(() => 'held')])).toBe('held');
    const closing = log.close();
    expect(await Promise.race([admitted, sleep(500).then(() => 'held')])).toBe('admitted');
    letThrough();
    await closing;
  });
});

describe("the sequencer's rounds", () => {
  const dialect = new PgDialect();
  const names: [RegExp, string][] = [[/^with l as materialized/, 'take'], [/^select s\.size, h\.root/, 'head'], [/^select w\.level/, 'nodes'], [/^with d as \(delete/, 'move']];
  /** A fresh database whose transactions (one per round) record what each statement they send is. */
  async function recorded() {
    const own = await freshDatabase();
    logs.push({ close: () => own.close() } as AuditLog);
    const rounds: string[][] = [];
    const db = new Proxy(own.db, {
      get(target, key) {
        const value = Reflect.get(target, key, target) as unknown;
        if (key !== 'transaction') return typeof value === 'function' ? value.bind(target) : value;
        return (work: Parameters<Db['transaction']>[0]) =>
          target.transaction((tx) => {
            const sent: string[] = [];
            rounds.push(sent);
            const execute = (query: SQL) => {
              const text = dialect.sqlToQuery(query).sql.trim();
              sent.push(names.find(([pattern]) => pattern.test(text))?.[1] ?? text.slice(0, 40));
              return tx.execute(query);
            };
            return work(new Proxy(tx, { get: (t, k) => (k === 'execute' ? execute : (Reflect.get(t, k, t) as unknown)) }));
          });
      },
    });
    return { own, db, last: () => rounds.filter((r) => r.includes('move')).at(-1) };
  }
  const idle = { idleMs: 3_600_000, kickMs: 3_600_000 };

  it("reads the tree's frontier only when another process added to the tree since this one's last batch", async () => {
    const { own, db, last } = await recorded();
    // b opens once a's batches are done: a log's loop runs a first round as it opens, which could take a's entries.
    const a = open(db, idle);
    await a.append([entry(1), entry(2), entry(3)]);
    await a.sync();
    expect(last()).toEqual(['take', 'head', 'move']); // an empty tree has no frontier to read
    await a.append([entry(4)]);
    await a.sync();
    expect(last()).toEqual(['take', 'head', 'move']); // a's own last batch made the tree: its frontier is a's
    const b = open(db, idle);
    await b.append([entry(5)]);
    await b.sync();
    expect(last()).toEqual(['take', 'head', 'nodes', 'move']); // b has none
    await a.append([entry(6), entry(7)]);
    await a.sync();
    expect(last()).toEqual(['take', 'head', 'nodes', 'move']); // b added to the tree since a's last batch
    await a.append([entry(8)]);
    await a.sync();
    expect(last()).toEqual(['take', 'head', 'move']);
    expect(await verifyStored(own.db, [signer.verifierKey])).toMatchObject({ ok: true, entries: 8, checkpoint: { size: 8 } });
  });

  it('reads the frontier when the tree is as large as after its last batch but another one (a database restored, then grown again)', async () => {
    const { own, db, last } = await recorded();
    const a = open(db, idle);
    await a.append([entry(1), entry(2)]);
    await a.sync();
    await a.append([entry(3)]);
    await a.sync();
    // The database goes back to its state at size 2, and b grows the tree to size 3 again with another entry.
    const { sql } = await import('drizzle-orm');
    await own.db.execute(sql`delete from audit_entries where seq > 2`);
    await own.db.execute(sql`delete from audit_tree_heads where size > 2`);
    const b = open(db, idle);
    await b.append([entry(30)]);
    await b.sync();
    await a.append([entry(4)]);
    await a.sync();
    expect(last()).toEqual(['take', 'head', 'nodes', 'move']);
    expect(await verifyStored(own.db, [signer.verifierKey])).toMatchObject({ ok: true, entries: 4, checkpoint: { size: 4 } });
    const seen: string[] = [];
    for await (const e of readEntries(own.db)) seen.push(`${e.seq}:${e.requestId}`);
    expect(seen).toEqual(['1:req_1', '2:req_2', '3:req_30', '4:req_4']);
  });

  it('hands each batch it integrates to onCheckpoint with its entries, as stored', async () => {
    const { own, db } = await recorded();
    const heard: { size: number; entries: unknown[] }[] = [];
    const a = open(db, { ...idle, onCheckpoint: (checkpoint, entries) => heard.push({ size: checkpoint.size, entries }) });
    await a.append([entry(1), { ...entry(2), requestId: null, data: { s: 'é\u202e"', list: [1, { b: 2, a: 1 }] } }]);
    await a.sync();
    const b = open(db, idle); // opened after a's batch: its first round would otherwise race a for a's entries
    await b.append([entry(3)]);
    await b.sync();
    await a.append([entry(4)]);
    await a.sync();
    const stored: AuditEntry[] = [];
    for await (const e of readEntries(own.db)) stored.push(e);
    const as = (e: AuditEntry) => ({ seq: e.seq, at: e.at, kind: e.kind, requestId: e.requestId, actor: e.actor, dataJcs: JSON.stringify(e.data), hash: e.hash });
    // b's batch (size 3) is b's to hand out; the data is the JCS text hashed (keys sorted), which the row holds too.
    expect(heard).toEqual([{ size: 2, entries: [as(stored[0]!), as(stored[1]!)] }, { size: 4, entries: [as(stored[3]!)] }]);
    expect((heard[0]!.entries[1] as { dataJcs: string }).dataJcs).toBe('{"list":[1,{"a":1,"b":2}],"s":"é\u202e\\""}');
  });
});

describe('reading the stored log', () => {
  let db: Db;
  beforeAll(async () => {
    const own = await freshDatabase();
    db = own.db;
    const log = open(db, { idleMs: 3_600_000 });
    logs.push({ close: () => own.close() } as AuditLog); // after the log, so afterAll closes the log first
    // Three batches (three checkpoints: sizes 3, 5 and 7); kinds and request ids to filter on.
    await log.append([entry(1), entry(2), { ...entry(1), kind: 'request.approved' }]);
    await log.sync();
    await log.append([entry(3), { ...entry(3), kind: 'request.approved' }]);
    await log.sync();
    await log.append([entry(4), entry(5)]);
    await log.sync();
  }, 120_000);
  const read = async (filter: AuditFilter) => {
    const out: string[] = [];
    for await (const e of readEntries(db, filter)) out.push(`${e.seq}:${e.kind === 'request.approved' ? 'A' : 'R'}:${e.requestId}`);
    return out;
  };

  it('streams entries in order, a page at a time, within since, until and limit', async () => {
    const all = ['1:R:req_1', '2:R:req_2', '3:A:req_1', '4:R:req_3', '5:A:req_3', '6:R:req_4', '7:R:req_5'];
    for (const pageSize of [undefined, 1, 2, 3, 7, 100]) {
      expect(await read({ pageSize }), String(pageSize)).toEqual(all);
      expect(await read({ pageSize, since: 3, until: 6 })).toEqual(all.slice(2, 6));
      expect(await read({ pageSize, since: 2, limit: 3 })).toEqual(all.slice(1, 4));
      expect(await read({ pageSize, limit: 7 })).toEqual(all);
    }
    expect(await read({ pageSize: 0 })).toEqual(all);
    expect(await read({ limit: 0 })).toEqual([]);
    expect(await read({ since: 8 })).toEqual([]);
  });

  it('filters by request and by kind, and finds the first entry at or after a time', async () => {
    expect(await read({ requestId: 'req_1' })).toEqual(['1:R:req_1', '3:A:req_1']);
    expect(await read({ kind: 'request.approved', pageSize: 1 })).toEqual(['3:A:req_1', '5:A:req_3']);
    expect(await read({ kind: 'request.approved', requestId: 'req_3' })).toEqual(['5:A:req_3']);
    const entries: { seq: number; at: string }[] = [];
    for await (const e of readEntries(db)) entries.push(e);
    expect(await firstSeqSince(db, entries[0]!.at)).toBe(1);
    expect(await firstSeqSince(db, entries[6]!.at)).toBe(entries.findIndex((e) => e.at === entries[6]!.at) + 1);
    expect(await firstSeqSince(db, '2999-01-01T00:00:00.000Z')).toBeNull();
  });

  it('keeps one signed checkpoint per batch, read by size range, and knows the tree size', async () => {
    expect((await readCheckpoints(db)).map((c) => c.size)).toEqual([3, 5, 7]);
    expect((await readCheckpoints(db, 4)).map((c) => c.size)).toEqual([5, 7]);
    expect((await readCheckpoints(db, 3, 5)).map((c) => c.size)).toEqual([3, 5]);
    expect((await readCheckpoints(db, 0, 2)).map((c) => c.size)).toEqual([]);
    expect(await latestCheckpoint(db)).toMatchObject({ size: 7, note: expect.stringMatching(/^test\.example\/audit\n7\n/) });
    expect(await treeSize(db)).toBe(7);
  });

  it('reads a row with no leaf hash (none was stored for it) as an empty hash, which no leaf has', async () => {
    const { sql } = await import('drizzle-orm');
    await db.execute(sql`insert into audit_entries (seq, at, kind, request_id, actor, data) values (100, '2026-01-01T00:00:00.000Z', 'x', null, 'a', '{}')`);
    try {
      const found = [];
      for await (const e of readEntries(db, { since: 100 })) found.push(e);
      expect(found).toEqual([expect.objectContaining({ seq: 100, kind: 'x', hash: '' })]);
    } finally {
      await db.execute(sql`delete from audit_entries where seq = 100`);
    }
  });
});
