import { and, asc, desc, eq, gte, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import type { Json } from '../types.ts';
import { auditEntries, auditTreeHeads } from '../store/schema.ts';
import { entryJcs, type AuditEntry, type PreparedInput } from './entry.ts';
import { Frontier, frontierNodes, hashLeaf, withNodes, type Node } from './merkle.ts';
import { checkpointText, type NoteSigner } from './note.ts';

// postgres-js returns the rows of a raw query, PGlite an object holding them.
export const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows);

/** Queues entries in `db` (a caller's transaction, or autocommit): one statement, no lock beyond the new rows. */
export async function enqueue(db: Db, inputs: readonly PreparedInput[]): Promise<void> {
  const at = new Date().toISOString();
  const rows = inputs.map((i) => ({ at, kind: i.kind, request_id: i.requestId, actor: i.actor, data: i.dataJcs }));
  await db.execute(sql`insert into audit_queue (at, kind, request_id, actor, data)
    select * from jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) as r(at text, kind text, request_id text, actor text, data text)`);
}

/** Reads stored complete subtrees [level, index] (leaves from audit_entries) in one query. */
export async function readNodes(db: Db, wanted: [number, number][]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  if (wanted.length === 0) return found;
  const json = JSON.stringify(wanted.map(([level, idx]) => ({ level, idx })));
  const result = await db.execute(sql`select w.level, w.idx, coalesce(t.hash, e.leaf_hash) as hash
    from jsonb_to_recordset(${json}::text::jsonb) as w(level int, idx bigint)
    left join audit_tree t on w.level > 0 and t.level = w.level and t.idx = w.idx
    left join audit_entries e on w.level = 0 and e.seq = w.idx + 1`);
  for (const row of rowsOf<{ level: number; idx: string | number; hash: string | null }>(result)) {
    if (row.hash) found.set(`${row.level}/${Number(row.idx)}`, Buffer.from(row.hash, 'hex'));
  }
  return found;
}

/** Runs a proof computation (see merkle.ts) over the stored tree. */
export const overStoredTree = <T>(db: Db, compute: (node: Node) => T): Promise<T> => withNodes(compute, (wanted) => readNodes(db, wanted));

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
 * Integrates up to `max` queued entries in `tx`, which holds the sequencer lock: numbers them after the current tree,
 * stores their leaves and every complete subtree they close, and signs one checkpoint. Returns null for an empty queue.
 */
export async function integrate(tx: Db, signer: NoteSigner, max: number): Promise<StoredCheckpoint | null> {
  type Queued = { id: string | number; at: string; kind: string; request_id: string | null; actor: string; data: string };
  const queued = rowsOf<Queued>(
    await tx.execute(sql`delete from audit_queue where id in (select id from audit_queue order by id limit ${max})
      returning id, at, kind, request_id, actor, data`),
  ).sort((a, b) => Number(a.id) - Number(b.id));
  if (queued.length === 0) return null;
  const size = await treeSize(tx);
  const edge = frontierNodes(size);
  const known = await readNodes(tx, edge);
  const frontier = new Frontier(size, edge.map(([level, index]) => known.get(`${level}/${index}`)!));
  const nodes: { level: number; idx: number; hash: string }[] = [];
  const entries = queued.map((q) => {
    const leaf = hashLeaf(entryJcs(frontier.size + 1, q.at, q.kind, q.request_id, q.actor, q.data));
    frontier.push(leaf, (level, idx, hash) => nodes.push({ level, idx, hash: hash.toString('hex') }));
    return `{"seq":${frontier.size},"at":${JSON.stringify(q.at)},"kind":${JSON.stringify(q.kind)},"request_id":${JSON.stringify(q.request_id)},"actor":${JSON.stringify(q.actor)},"data":${q.data},"leaf_hash":"${leaf.toString('hex')}"}`;
  });
  const root = frontier.root();
  const checkpoint = { size: frontier.size, root: root.toString('hex'), at: new Date().toISOString(), note: signer.sign(checkpointText(signer.name, frontier.size, root)) };
  await tx.execute(sql`with e as (insert into audit_entries (seq, at, kind, request_id, actor, data, leaf_hash)
      select * from jsonb_to_recordset(${`[${entries.join(',')}]`}::text::jsonb)
      as r(seq bigint, at text, kind text, request_id text, actor text, data jsonb, leaf_hash text)),
    t as (insert into audit_tree (level, idx, hash)
      select * from jsonb_to_recordset(${JSON.stringify(nodes)}::text::jsonb) as n(level int, idx bigint, hash text))
    insert into audit_tree_heads (size, root, at, note) values (${checkpoint.size}, ${checkpoint.root}, ${checkpoint.at}, ${checkpoint.note})`);
  return checkpoint;
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
