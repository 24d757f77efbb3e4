import { sql } from 'drizzle-orm';
import { kernelMeta } from '../gateway/schema.ts';
import {
  Frontier,
  checkpointText,
  createNoteSigner,
  leafHash,
  requestDigest,
  schema,
  type AuditEntry,
  type Db,
  type JsonObject,
  type KernelKeys,
  type RequestBody,
} from '../kernel/index.ts';

/**
 * Seeds a database with a realistic history for the dashboard benchmark: `requests` requests (default 100,000) over
 * the last `days` days from 20 agents and 15 tools, and exactly `entriesPerRequest` chain entries each (default 10,
 * so 1,000,000 entries), as leaves of the kernel's Merkle tree with every subtree stored and a signed checkpoint every
 * 1000 entries (origin ORIGIN) with `keys`, whose public key and origin are recorded where the gateway keeps them. Entries beyond a request's real steps are
 * synthetic `request.viewed` entries. Approval evidence is a placeholder: receipts are not verifiable.
 * Inserts run as multi-row INSERTs of `batch` rows in one transaction per chunk.
 */
export interface SeedOptions {
  requests?: number;
  entriesPerRequest?: number;
  days?: number;
  keys: KernelKeys;
  now?: Date;
  onProgress?: (done: number, total: number) => void;
}

export interface SeedSummary {
  requests: number;
  entries: number;
  checkpoints: number;
  seconds: number;
}

const TOOLS = [
  'stripe_create_refund', 'stripe_create_payout', 'stripe_get_balance', 'stripe_list_charges', 'stripe_cancel_subscription',
  'github_merge_pull_request', 'github_create_issue', 'github_get_pull_request', 'github_add_collaborator', 'github_create_release',
  'github_dispatch_workflow', 'github_delete_branch', 'github_list_pull_requests', 'github_comment', 'github_get_file',
];
const AGENTS = Array.from({ length: 20 }, (_, i) => ({ id: `agt_seed${String(i).padStart(2, '0')}`, name: `seed-agent-${i}`, owner: `owner${i % 5}@example.com` }));
const APPROVERS = Array.from({ length: 5 }, (_, i) => ({ id: `apr_seed${i}`, email: `owner${i}@example.com`, key: `pk_seed_${i}` }));
const ROWS = 1000;
export const ORIGIN = 'localhost/countersign/audit';

/** A small deterministic PRNG, so two seeded databases hold the same history. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

async function insertRows<T>(tx: Db, table: Parameters<Db['insert']>[0], rows: T[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS) await tx.insert(table).values(rows.slice(i, i + ROWS) as never);
}

export async function seedAudit(db: Db, options: SeedOptions): Promise<SeedSummary> {
  const started = performance.now();
  const total = options.requests ?? 100_000;
  const perRequest = options.entriesPerRequest ?? 10;
  if (perRequest < 7) throw new Error('entriesPerRequest must be at least 7 (the longest real path)');
  const now = (options.now ?? new Date()).getTime();
  const span = (options.days ?? 30) * 86_400_000;
  const signer = createNoteSigner(ORIGIN, options.keys.privateKey, options.keys.publicJwk as JsonObject);
  const random = prng(42);

  const publicJwk = options.keys.publicJwk as JsonObject;
  await db.insert(kernelMeta).values({ key: 'kernel.publicKeys', value: [publicJwk] }).onConflictDoUpdate({ target: kernelMeta.key, set: { value: [publicJwk] } });
  await db.insert(kernelMeta).values({ key: 'audit.origin', value: ORIGIN }).onConflictDoUpdate({ target: kernelMeta.key, set: { value: ORIGIN } });
  await db.insert(schema.agents).values(AGENTS.map((a) => ({ ...a, tokenHash: `seed-${a.id}`, lastSeenAt: new Date(now) })));
  await db.insert(schema.approvers).values(APPROVERS.map((a) => ({ id: a.id, email: a.email, roles: ['approver'] })));
  await db.insert(schema.passkeys).values(APPROVERS.map((a) => ({ id: a.key, approverId: a.id, publicKey: 'seed', name: 'seeded passkey' })));

  let seq = 0;
  const frontier = new Frontier();
  let checkpoints = 0;
  const chunk = 2000;
  for (let first = 0; first < total; first += chunk) {
    const reqRows: (typeof schema.requests.$inferInsert)[] = [];
    const decRows: (typeof schema.decisions.$inferInsert)[] = [];
    const entries: (typeof schema.auditEntries.$inferInsert)[] = [];
    const nodes: (typeof schema.auditTree.$inferInsert)[] = [];
    const cps: (typeof schema.auditTreeHeads.$inferInsert)[] = [];
    for (let n = first; n < Math.min(total, first + chunk); n++) {
      // Spread evenly over the window, oldest first, so seq order follows time as in a real chain.
      const created = new Date(now - span + Math.floor(((n + random()) / total) * span));
      const at = created.toISOString();
      const agent = AGENTS[Math.floor(random() * AGENTS.length)]!;
      const tool = TOOLS[Math.floor(random() * TOOLS.length)]!;
      const roll = random();
      const decision = roll < 0.6 ? 'allow' : roll < 0.7 ? 'deny' : 'approve';
      const id = `req_seed${String(n).padStart(7, '0')}`;
      const amount = 100 + Math.floor(random() * 100_000);
      const body: RequestBody = {
        tool,
        args: { target: `obj_${n}`, amount },
        pins: {},
        principal: { agentId: agent.id, agentName: agent.name, owner: agent.owner },
        policyVersion: 'seed',
        requestId: id,
        nonce: `n${n}`,
        expiresAt: new Date(created.getTime() + 600_000).toISOString(),
      };
      const digest = requestDigest(body);
      const summary = `${tool.replaceAll('_', ' ')} on obj_${n} for $${(amount / 100).toFixed(2)} USD`;
      const intent = { summary, consequence: 'writes' as const, reversible: false, fields: [], pins: {}, sandbox: true };
      const verdict = { decision, ruleId: `rule-${decision}`, reason: `seeded ${decision}` } as const;
      const approver = APPROVERS[Math.floor(random() * APPROVERS.length)]!;
      const decidedAt = new Date(created.getTime() + Math.floor(random() * 1_800_000));
      const state = decision === 'deny' ? 'denied' : 'succeeded';
      reqRows.push({ id, digest, agentId: agent.id, tool, body, intent, verdict, state, ruleId: verdict.ruleId, expiresAt: new Date(body.expiresAt), result: null, error: null, createdAt: created, updatedAt: created });
      const steps: { kind: string; actor: string; data: JsonObject; at?: string }[] = [
        { kind: 'request.received', actor: `agent:${agent.id}`, data: { digest, body: body as unknown as JsonObject, intent } },
        { kind: 'policy.decided', actor: 'kernel', data: verdict },
      ];
      if (decision === 'approve') {
        decRows.push({ requestId: id, approverId: approver.id, decision: 'approve', reason: null, evidenceKind: 'webauthn', keyId: approver.key, evidence: { seeded: true }, createdAt: decidedAt });
        const t = decidedAt.toISOString();
        steps.push({ kind: 'approval.decided', actor: `approver:${approver.id}`, at: t, data: { decision: 'approve', reason: null, approver: approver.email, evidenceKind: 'webauthn', keyId: approver.key, digest, receipt: { seeded: true } } });
        steps.push({ kind: 'request.approved', actor: 'kernel', at: t, data: { approvals: 1 } });
      }
      if (decision !== 'deny') {
        steps.push({ kind: 'grant.minted', actor: 'kernel', data: { jti: `jti_${n}`, expiresAt: body.expiresAt } });
        steps.push({ kind: 'execution.started', actor: 'kernel', data: { tool } });
        steps.push({ kind: 'execution.succeeded', actor: 'kernel', data: { data: { ok: true }, text: 'done' } });
      }
      while (steps.length < perRequest) steps.push({ kind: 'request.viewed', actor: `approver:${approver.id}`, data: { synthetic: true } });
      for (const step of steps) {
        seq++;
        const entry: Omit<AuditEntry, 'hash'> = { seq, at: step.at ?? at, kind: step.kind, requestId: id, actor: step.actor, data: step.data };
        const leaf = leafHash(entry);
        frontier.push(leaf, (level, idx, hash) => nodes.push({ level, idx, hash: hash.toString('hex') }));
        entries.push({ ...entry, hash: leaf.toString('hex') });
        if (seq % 1000 === 0) {
          const root = frontier.root();
          cps.push({ size: seq, root: root.toString('hex'), at: step.at ?? at, note: signer.sign(checkpointText(ORIGIN, seq, root)) });
        }
      }
    }
    await db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      await insertRows(tx, schema.requests, reqRows);
      await insertRows(tx, schema.decisions, decRows);
      await insertRows(tx, schema.auditEntries, entries);
      await insertRows(tx, schema.auditTree, nodes);
      await insertRows(tx, schema.auditTreeHeads, cps);
    });
    checkpoints += cps.length;
    options.onProgress?.(Math.min(total, first + chunk), total);
  }
  await db.execute(sql`analyze`);
  return { requests: total, entries: seq, checkpoints, seconds: (performance.now() - started) / 1000 };
}
