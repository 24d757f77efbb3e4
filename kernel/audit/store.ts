import { and, asc, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import type { Json } from '../types.ts';
import { auditCheckpoints, auditEntries } from '../store/schema.ts';
import { GENESIS_HASH, chainHash, checkpointPayload, entryJcs, type AuditCheckpoint, type AuditEntry, type PreparedInput } from './entry.ts';
import type { CheckpointSigner } from './signer.ts';

// One advisory lock id for the whole chain: every appender, in any process, takes it inside its transaction and
// holds it until commit, so seq and prev_hash are read and written by one transaction at a time.
const CHAIN_LOCK = 0x436f756e7465; // "Counte"

// Rows per INSERT: 8 columns each stays far below PostgreSQL's 65,535 bind parameters.
const ROWS_PER_INSERT = 2000;

/** The chain's last seq and hash (0 and GENESIS_HASH when empty). */
export async function readTail(db: Db): Promise<{ seq: number; hash: string }> {
  const [row] = await db.select({ seq: auditEntries.seq, hash: auditEntries.hash }).from(auditEntries).orderBy(desc(auditEntries.seq)).limit(1);
  return row ?? { seq: 0, hash: GENESIS_HASH };
}

/**
 * Appends prepared inputs to the chain inside `tx`, which must be a transaction: the lock is held until it ends.
 * Signs a checkpoint at every multiple of `every` the batch crosses, in the same transaction.
 */
export async function writeBatch(tx: Db, inputs: readonly PreparedInput[], signer: CheckpointSigner, every: number): Promise<AuditEntry[]> {
  await tx.execute(sql`select pg_advisory_xact_lock(${CHAIN_LOCK})`);
  const tail = await readTail(tx);
  const at = new Date().toISOString();
  let prev = tail.hash;
  let seq = tail.seq;
  const written: AuditEntry[] = inputs.map((input) => {
    seq++;
    const hash = chainHash(prev, entryJcs(seq, at, input.kind, input.requestId, input.actor, input.dataJcs));
    const entry: AuditEntry = { seq, at, kind: input.kind, requestId: input.requestId, actor: input.actor, data: input.data, prevHash: prev, hash };
    prev = hash;
    return entry;
  });
  for (let i = 0; i < written.length; i += ROWS_PER_INSERT) {
    await tx.insert(auditEntries).values(written.slice(i, i + ROWS_PER_INSERT));
  }
  for (const entry of written) {
    if (entry.seq % every === 0) await writeCheckpoint(tx, signer, entry.seq, entry.hash);
  }
  return written;
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

/** Takes the chain lock in `tx` and returns the tail, so an on-demand checkpoint sees a settled head. */
export async function lockedTail(tx: Db): Promise<{ seq: number; hash: string }> {
  await tx.execute(sql`select pg_advisory_xact_lock(${CHAIN_LOCK})`);
  return readTail(tx);
}

/** What `read` may filter on; every bound is inclusive. */
export interface AuditFilter {
  since?: number;
  until?: number;
  requestId?: string;
  kind?: string;
  limit?: number;
  /** Rows per round trip (default 5000). */
  pageSize?: number;
}

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
    const page = await db
      .select()
      .from(auditEntries)
      .where(and(...where))
      .orderBy(asc(auditEntries.seq))
      .limit(Math.min(pageSize, left));
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
  const [row] = await db
    .select({ seq: sql<string | number | null>`min(${auditEntries.seq})` })
    .from(auditEntries)
    .where(gte(auditEntries.at, isoTime));
  return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
}
