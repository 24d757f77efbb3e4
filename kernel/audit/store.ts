import { and, asc, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import { KernelError } from '../errors.ts';
import type { Db } from '../store/db.ts';
import type { Json } from '../types.ts';
import { auditEntries, auditTreeHeads } from '../store/schema.ts';
import { entryJcs, type AuditEntry, type IntegratedEntry, type PreparedInput } from './entry.ts';
import { Frontier, frontierNodes, hashChildren, hashLeaf, withNodes, type Node } from './merkle.ts';
import { checkpointText, type NoteSigner } from './note.ts';

// postgres-js returns the rows of a raw query, PGlite an object holding them.
export const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows);

/** A PostgreSQL text[] literal: one parameter per column for `unnest`, where a JSON document is re-parsed per row. */
export const texts = (values: readonly (string | null)[]): string => `{${values.map((v) => (v === null ? 'NULL' : `"${v.replace(/[\\"]/g, '\\$&')}"`)).join(',')}}`;

/** The insert that queues entries: run alone or inside a caller's statement; no lock beyond the new rows. */
export function queueInsert(inputs: readonly PreparedInput[]): SQL {
  const column = (pick: (i: PreparedInput) => string | null) => texts(inputs.map(pick));
  return sql`insert into audit_queue (at, kind, request_id, actor, data) select ${new Date().toISOString()}, *
    from unnest(${column((i) => i.kind)}::text[], ${column((i) => i.requestId)}::text[], ${column((i) => i.actor)}::text[], ${column((i) => i.dataJcs)}::text[])`;
}

/** Inner nodes below this level are not stored (a 64th of the rows): a proof re-hashes them from at most 32 leaves. */
const STORED_FROM = 6;

/** Reads stored complete subtrees [level, index] (leaves from audit_entries) in one query. */
export async function readNodes(db: Db, wanted: [number, number][]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  if (wanted.length === 0) return found;
  const json = JSON.stringify(wanted.map(([level, idx]) => ({ level, idx })));
  const result = await db.execute(sql`select w.level, w.idx, coalesce(t.hash, e.leaf_hash) as hash
    from jsonb_to_recordset(${json}::text::jsonb) as w(level int, idx bigint)
    left join audit_tree t on w.level > 0 and t.level = w.level and t.idx = w.idx
    left join audit_entries e on w.level = 0 and e.seq = w.idx + 1`);
  for (const row of rowsOf<{ level: number; idx: string | number; hash: string | null }>(result)) if (row.hash) found.set(`${row.level}/${Number(row.idx)}`, Buffer.from(row.hash, 'hex'));
  return found;
}

/** Runs a proof computation (see merkle.ts) over the stored tree, re-hashing nodes below STORED_FROM from the leaves. */
export function overStoredTree<T>(db: Db, compute: (node: Node) => T): Promise<T> {
  const lowered = (node: Node): Node => function at(level, index): Buffer {
    return level === 0 || level >= STORED_FROM ? node(level, index) : hashChildren(at(level - 1, 2 * index), at(level - 1, 2 * index + 1));
  };
  return withNodes((node) => compute(lowered(node)), (wanted) => readNodes(db, wanted));
}

/** The number of leaves in the tree. */
export async function treeSize(db: Db): Promise<number> {
  const [row] = rowsOf<{ size: string | number }>(await db.execute(sql`select coalesce(max(seq), 0) as size from audit_entries`));
  return Number(row?.size ?? 0);
}

export interface StoredCheckpoint {
  size: number;
  root: string;
  at: string;
  note: string;
}

/**
 * Integrates up to `max` queued entries in `tx` if it gets the sequencer lock ('busy' if another process holds it):
 * numbers them after the current tree, stores their leaves and the complete subtrees they close from level
 * STORED_FROM up, and signs one checkpoint. Returns the checkpoint with the entries it added, or null for an empty
 * queue. `tip` keeps the tree's right edge and root as this batch leaves them, for the caller's next batch.
 */
export async function integrate(tx: Db, signer: NoteSigner, max: number, tip: { root?: string; frontier?: Frontier } = {}): Promise<{ checkpoint: StoredCheckpoint; entries: IntegratedEntry[] } | null | 'busy'> {
  type Queued = { got: boolean; id: string | number | null; at: string; kind: string; request_id: string | null; actor: string; data: string };
  // One round trip: the transaction-scoped lock (replicas take turns) and, if it was free, the batch read off the queue.
  const rows = rowsOf<Queued>(await tx.execute(sql`with l as materialized (select pg_try_advisory_xact_lock(hashtext('countersign.audit.sequencer')) as got),
    q as (select * from audit_queue where (select got from l) order by id limit ${max})
    select l.got, q.* from l left join q on true order by q.id`));
  if (!rows[0]?.got) return 'busy';
  const queued = rows.filter((q) => q.id !== null);
  if (queued.length === 0) return null;
  // Read after the lock was taken: that statement's snapshot may predate another replica's last batch. With the size
  // comes the root signed for it: if it is the root of this process's last batch, no other batch came since (a root
  // names one tree), and the frontier kept in `tip` is the tree's; else the frontier is read from the stored tree.
  const [head] = rowsOf<{ size: string | number; root: string | null }>(await tx.execute(sql`select s.size, h.root
    from (select coalesce(max(seq), 0) as size from audit_entries) s left join audit_tree_heads h on h.size = s.size`));
  const size = Number(head!.size);
  const frontier = new Frontier(size, tip.root === head!.root ? tip.frontier!.hashes() : await overStoredTree(tx, (node) => frontierNodes(size).map(([level, index]) => node(level, index))));
  const nodes: { level: number; idx: number; hash: string }[] = [];
  const entries = queued.map((q) => {
    const leaf = hashLeaf(entryJcs(frontier.size + 1, q.at, q.kind, q.request_id, q.actor, q.data));
    frontier.push(leaf, (level, idx, hash) => level >= STORED_FROM && nodes.push({ level, idx, hash: hash.toString('hex') }));
    return { seq: frontier.size, at: q.at, kind: q.kind, requestId: q.request_id, actor: q.actor, dataJcs: q.data, hash: leaf.toString('hex') };
  });
  const root = frontier.root();
  const checkpoint = { size: frontier.size, root: root.toString('hex'), at: new Date().toISOString(), note: signer.sign(checkpointText(signer.name, frontier.size, root)) };
  // The rows move inside PostgreSQL (only ids and leaf hashes travel back), numbered in the order they were hashed; the
  // checkpoint is stored only if every one of them was still queued, else the transaction fails and nothing moves.
  const ids = `{${queued.map((q) => q.id).join(',')}}`;
  const [stored] = rowsOf<{ size: string }>(await tx.execute(sql`with d as (delete from audit_queue where id = any(${ids}::bigint[]) returning *),
    e as (insert into audit_entries (seq, at, kind, request_id, actor, data, leaf_hash)
      select ${size} + r.n, d.at, d.kind, d.request_id, d.actor, d.data::json, r.leaf from d join unnest(${ids}::bigint[], ${texts(entries.map((e) => e.hash))}::text[])
        with ordinality as r(id, leaf, n) on d.id = r.id returning 1),
    t as (insert into audit_tree (level, idx, hash)
      select * from jsonb_to_recordset(${JSON.stringify(nodes)}::text::jsonb) as n(level int, idx bigint, hash text))
    insert into audit_tree_heads (size, root, at, note) select ${checkpoint.size}, ${checkpoint.root}, ${checkpoint.at}, ${checkpoint.note}
      where (select count(*) from e) = ${queued.length} returning size`));
  if (!stored) throw new KernelError('audit_broken', `${queued.length} queued audit entries changed while the sequencer held its lock (something else deletes from audit_queue); nothing was integrated, the batch is tried again`);
  Object.assign(tip, { root: checkpoint.root, frontier });
  return { checkpoint, entries };
}

/** The newest stored checkpoint, or null before the first batch. */
export async function latestCheckpoint(db: Db): Promise<StoredCheckpoint | null> {
  const [row] = await db.select().from(auditTreeHeads).orderBy(desc(auditTreeHeads.size)).limit(1);
  return row ?? null;
}

/** Stored checkpoints with `from <= size <= to`, by size. */
export async function readCheckpoints(db: Db, from = 0, to = Number.MAX_SAFE_INTEGER): Promise<StoredCheckpoint[]> {
  return db.select().from(auditTreeHeads).where(and(gte(auditTreeHeads.size, from), lte(auditTreeHeads.size, to))).orderBy(asc(auditTreeHeads.size));
}

/** What `read` may filter on; bounds are inclusive; `pageSize` is rows per round trip (default 5000). */
export type AuditFilter = { since?: number; until?: number; requestId?: string; kind?: string; limit?: number; pageSize?: number };

/** Streams entries in seq order, a page at a time (keyset pagination), so memory stays flat. */
export async function* readEntries(db: Db, filter: AuditFilter = {}): AsyncGenerator<AuditEntry> {
  const pageSize = Math.max(1, Math.min(filter.pageSize ?? 5000, 50_000));
  let left = filter.limit ?? Number.POSITIVE_INFINITY;
  let after = (filter.since ?? 1) - 1;
  const { seq, at, kind, requestId, actor, data, hash } = auditEntries;
  while (left > 0) {
    const where: SQL[] = [gte(auditEntries.seq, after + 1)];
    if (filter.until !== undefined) where.push(lte(auditEntries.seq, filter.until));
    if (filter.requestId !== undefined) where.push(eq(auditEntries.requestId, filter.requestId));
    if (filter.kind !== undefined) where.push(eq(auditEntries.kind, filter.kind));
    const page = await db.select({ seq, at, kind, requestId, actor, data, hash }).from(auditEntries).where(and(...where)).orderBy(asc(seq)).limit(Math.min(pageSize, left));
    for (const row of page) yield { ...row, data: row.data as Json, hash: row.hash ?? '' };
    if (page.length < Math.min(pageSize, left)) return;
    left -= page.length;
    after = page[page.length - 1]!.seq;
  }
}

/** The first seq stamped at or after `isoTime` (null when none is), so exports can start at a time. */
export async function firstSeqSince(db: Db, isoTime: string): Promise<number | null> {
  const [row] = await db.select({ seq: sql<string | number | null>`min(${auditEntries.seq})` }).from(auditEntries).where(gte(auditEntries.at, isoTime));
  return row?.seq === null || row?.seq === undefined ? null : Number(row.seq);
}
