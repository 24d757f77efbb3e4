import { sql } from 'drizzle-orm';
import { Frontier, KernelError, auditQueueInsert, entryJcs, hashLeaf, jcs, prepareInput, sha256Hex, type AuditInput, type Db, type JsonObject } from '../../kernel/index.ts';

type Legacy = { seq: string | number; at: string; kind: string; request_id: string | null; actor: string; data: JsonObject; prev_hash: string; hash: string };

const rowsOf = <T>(result: unknown): T[] => (Array.isArray(result) ? result : (result as { rows: T[] }).rows);

/**
 * Installs from before migration 0007 hold a hash chain: its entries become the first leaves, in order. The chain's
 * links are checked on the way and the outcome queued for the log, with the passkeys enrolled before the log
 * recorded enrollments, so nothing adopted is silently vouched for. Runs once, after the migrations, holding the
 * sequencer's lock. Upgrade code, outside the kernel: it needs no trust, since every adopted leaf is recomputed from its
 * entry by the kernel's verifier (`audit verify`), and a wrong leaf or node fails verification.
 */
export async function adoptChain(db: Db): Promise<void> {
  await db.transaction(async (raw) => {
    const tx = raw as unknown as Db;
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext('countersign.audit.sequencer'))`);
    await adoptIn(tx);
  });
}

async function adoptIn(tx: Db): Promise<void> {
  const frontier = new Frontier();
  let [prev, firstBad] = ['0'.repeat(64), null as null | { seq: number; reason: string }];
  for (;;) {
    const page = rowsOf<Legacy>(await tx.execute(sql`select seq, at, kind, request_id, actor, data, prev_hash, hash from audit_entries
      where leaf_hash is null order by seq limit 5000`));
    if (page.length === 0) break;
    const leaves: string[] = [];
    const nodes: { level: number; idx: number; hash: string }[] = [];
    for (const row of page) {
      const seq = Number(row.seq);
      if (seq !== frontier.size + 1) throw new KernelError('audit_broken', `the audit chain from before migration 0007 lacks entry ${frontier.size + 1}; restore it from a backup`);
      const canonical = entryJcs(seq, row.at, row.kind, row.request_id, row.actor, jcs(row.data));
      if (!firstBad && row.prev_hash !== prev) firstBad = { seq, reason: 'prev_hash does not match the previous entry' };
      if (!firstBad && row.hash !== sha256Hex(prev, canonical)) firstBad = { seq, reason: 'stored hash does not match the entry content' };
      prev = row.hash;
      const leaf = hashLeaf(canonical);
      frontier.push(leaf, (level, idx, hash) => nodes.push({ level, idx, hash: hash.toString('hex') }));
      leaves.push(`{"seq":${seq},"h":"${leaf.toString('hex')}"}`);
    }
    await tx.execute(sql`update audit_entries e set leaf_hash = r.h from jsonb_to_recordset(${`[${leaves.join(',')}]`}::text::jsonb) as r(seq bigint, h text) where e.seq = r.seq`);
    await tx.execute(sql`insert into audit_tree (level, idx, hash) select * from jsonb_to_recordset(${JSON.stringify(nodes)}::text::jsonb) as n(level int, idx bigint, hash text)`);
  }
  if (frontier.size === 0) return;
  const passkeys = rowsOf<JsonObject>(await tx.execute(sql`select p.id as "credentialId", p.approver_id as "approverId", a.email, p.public_key as "publicKey"
    from passkeys p join approvers a on a.id = p.approver_id where p.removed_at is null order by p.id`));
  const records: AuditInput[] = [
    { kind: 'audit.adopted', actor: 'kernel', data: { entries: frontier.size, chainHead: prev, chainIntact: !firstBad, firstBad } },
    ...passkeys.map((data) => ({ kind: 'passkey.enrolled', actor: 'kernel', data: { ...data, recorded: 'at upgrade to the tree log' } })),
  ];
  await tx.execute(auditQueueInsert(records.map((record, i) => prepareInput(record, i))));
}
