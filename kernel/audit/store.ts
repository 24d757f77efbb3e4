import { and, asc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import type { Json } from '../types.ts';
import { auditCheckpoints, auditEntries } from '../store/schema.ts';
import { chainHash, checkpointPayload, entryJcs, type AuditCheckpoint, type AuditEntry, type PreparedInput } from './entry.ts';
import type { CheckpointSigner } from './signer.ts';
import { KernelError } from '../errors.ts';

export type Tail = { seq: number; hash: string };

// postgres-js returns the rows of a raw query, PGlite an object holding them.
const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows);

/**
 * The head row's seq and hash. With `lock` (inside a transaction), it stays locked until that transaction ends: the
 * chain's mutex across processes, which waits for the previous appender's commit and reads what it wrote.
 */
export async function readHead(db: Db, lock = false): Promise<Tail> {
  const query = lock ? sql`select seq, hash from audit_head where id = 1 for update` : sql`select seq, hash from audit_head where id = 1`;
  let [row] = rowsOf<{ seq: string | number; hash: string }>(await db.execute(query));
  if (!row) {
    // The head is derived from the entries, so a missing head row is rebuilt from the chain's tail.
    await db.execute(sql`insert into audit_head (id, seq, hash) select 1, coalesce(max(seq), 0),
      coalesce((select hash from audit_entries order by seq desc limit 1), repeat('0', 64)) from audit_entries on conflict do nothing`);
    [row] = rowsOf<{ seq: string | number; hash: string }>(await db.execute(query));
  }
  if (!row) throw new KernelError('internal', 'the audit chain head (table audit_head) cannot be read or rebuilt; run `countersign migrate`');
  return { seq: Number(row.seq), hash: row.hash };
}

/**
 * Extends the chain from `tail` with `inputs` in one statement that also moves the head, but only if the head still
 * is `tail` (compare-and-swap); returns null, writing nothing, when another appender moved it first. Inside a
 * transaction that locked the head (`readHead(tx, true)`) it always succeeds. Signs a checkpoint at every multiple
 * of `every` the batch crosses, written by the same statement.
 */
export async function writeBatch(db: Db, inputs: readonly PreparedInput[], tail: Tail, signer: CheckpointSigner, every: number): Promise<AuditEntry[] | null> {
  const at = new Date().toISOString();
  let prev = tail.hash;
  let seq = tail.seq;
  const rows: string[] = [];
  const checkpoints: string[] = [];
  const written: AuditEntry[] = [];
  for (const input of inputs) {
    seq++;
    const hash = chainHash(prev, entryJcs(seq, at, input.kind, input.requestId, input.actor, input.dataJcs));
    rows.push(
      `{"seq":${seq},"at":"${at}","kind":${JSON.stringify(input.kind)},"request_id":${JSON.stringify(input.requestId)},` +
        `"actor":${JSON.stringify(input.actor)},"data":${input.dataJcs},"prev_hash":"${prev}","hash":"${hash}"}`,
    );
    if (seq % every === 0) {
      const signature = await signer.sign(checkpointPayload(seq, hash, at));
      checkpoints.push(JSON.stringify({ seq, hash, at, signature }));
    }
    written.push({ seq, at, kind: input.kind, requestId: input.requestId, actor: input.actor, data: input.data, prevHash: prev, hash });
    prev = hash;
  }
  // Constant statement text, whatever the batch size, so the server plans it once; rows travel as one JSON array.
  const result = await db.execute(sql`with head as (
      update audit_head set seq = ${seq}, hash = ${prev} where id = 1 and seq = ${tail.seq} and hash = ${tail.hash} returning 1),
    entries as (insert into audit_entries (seq, at, kind, request_id, actor, data, prev_hash, hash)
      select r.* from jsonb_to_recordset(${`[${rows.join(',')}]`}::text::jsonb)
      as r(seq bigint, at text, kind text, request_id text, actor text, data jsonb, prev_hash text, hash text)
      where exists (select 1 from head)),
    checkpoints as (insert into audit_checkpoints (seq, hash, at, signature)
      select c.* from jsonb_to_recordset(${`[${checkpoints.join(',')}]`}::text::jsonb) as c(seq bigint, hash text, at text, signature text)
      where exists (select 1 from head) on conflict do nothing)
    select count(*)::int as swapped from head`);
  return rowsOf<{ swapped: number }>(result)[0]?.swapped === 1 ? written : null;
}

/** Signs and stores a checkpoint at `seq` unless one is already there; returns the stored one. */
export async function writeCheckpoint(tx: Db, signer: CheckpointSigner, seq: number, hash: string): Promise<AuditCheckpoint> {
  const at = new Date().toISOString();
  const signature = await signer.sign(checkpointPayload(seq, hash, at));
  const [row] = await tx.insert(auditCheckpoints).values({ seq, hash, at, signature }).onConflictDoNothing().returning();
  if (row) return row;
  const [existing] = await tx.select().from(auditCheckpoints).where(eq(auditCheckpoints.seq, seq));
  return existing!;
}

/** What `read` may filter on; bounds are inclusive; `pageSize` is rows per round trip (default 5000). */
export type AuditFilter = { since?: number; until?: number; requestId?: string; kind?: string; limit?: number; pageSize?: number };

/** Streams entries in seq order, a page at a time (keyset pagination), so memory stays flat. */
export async function* readEntries(db: Db, filter: AuditFilter = {}): AsyncGenerator<AuditEntry> {
  const pageSize = Math.max(1, Math.min(filter.pageSize ?? 5000, 50_000));
  let left = filter.limit ?? Number.POSITIVE_INFINITY;
  let after = (filter.since ?? 1) - 1;
  while (left > 0) {
    const where: SQL[] = [gte(auditEntries.seq, after + 1)];
    if (filter.until !== undefined) where.push(lte(auditEntries.seq, filter.until));
    if (filter.requestId !== undefined) where.push(eq(auditEntries.requestId, filter.requestId));
    if (filter.kind !== undefined) where.push(eq(auditEntries.kind, filter.kind));
    const page = await db.select().from(auditEntries).where(and(...where)).orderBy(asc(auditEntries.seq)).limit(Math.min(pageSize, left));
    for (const row of page) yield { ...row, data: row.data as Json };
    if (page.length < Math.min(pageSize, left)) return;
    left -= page.length;
    after = page[page.length - 1]!.seq;
  }
}

/** Checkpoints at or after `since`, in seq order. Few (one per thousand entries), so read at once. */
export async function readCheckpoints(db: Db, since = 1): Promise<AuditCheckpoint[]> {
  return db.select().from(auditCheckpoints).where(gte(auditCheckpoints.seq, since)).orderBy(asc(auditCheckpoints.seq));
}

/** The first seq stamped at or after `isoTime` (null when none is), so exports can start at a time. */
export async function firstSeqSince(db: Db, isoTime: string): Promise<number | null> {
  const [row] = await db.select({ seq: sql<string | number | null>`min(${auditEntries.seq})` }).from(auditEntries).where(gte(auditEntries.at, isoTime));
  return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
}
