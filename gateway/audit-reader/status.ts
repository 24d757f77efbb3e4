import { and, asc, desc, eq, gte, lte } from 'drizzle-orm';
import { schema, verifyChain, type AuditEntry, type Db, type Json, type JsonObject } from '../../kernel/index.ts';
import type { ChainStatus } from './messages.ts';

const { auditCheckpoints, auditEntries } = schema;

export interface ChainWatchOptions {
  publicJwks: readonly JsonObject[] | (() => Promise<readonly JsonObject[]>);
  /** How long a verdict is served from cache (default 5 s). */
  ttlMs?: number;
  /** How long incremental checks may go on before the whole chain is re-read (default 10 min). */
  fullEveryMs?: number;
  /** Longest a caller waits for a check before getting the last verdict or 'checking' (default 1.5 s). */
  waitMs?: number;
  now?: () => number;
}

/** Streams entries from `since` in seq order, a page at a time. */
async function* entriesFrom(db: Db, since: number, until: number): AsyncGenerator<AuditEntry> {
  let next = since;
  for (;;) {
    const page = await db
      .select()
      .from(auditEntries)
      .where(and(gte(auditEntries.seq, next), lte(auditEntries.seq, until)))
      .orderBy(asc(auditEntries.seq))
      .limit(5000);
    for (const row of page) yield { ...row, data: row.data as Json };
    if (page.length < 5000) return;
    next = page[page.length - 1]!.seq + 1;
  }
}

/**
 * An incremental check trusts nothing new entries say about their past: the first must link to the remembered head,
 * and the head itself must still be there.
 */
async function linksToHead(db: Db, head: { seq: number; hash: string }, tail: number): Promise<{ seq: number; reason: string } | null> {
  if (tail < head.seq) return { seq: tail + 1, reason: `entries ${tail + 1}..${head.seq} were verified before and are now missing (truncated)` };
  const [row] = await db.select({ hash: auditEntries.hash }).from(auditEntries).where(eq(auditEntries.seq, head.seq));
  if (row?.hash !== head.hash) return { seq: head.seq, reason: `entry ${head.seq} changed since it was verified (its stored hash differs)` };
  const [next] = await db.select({ prevHash: auditEntries.prevHash }).from(auditEntries).where(eq(auditEntries.seq, head.seq + 1));
  if (next && next.prevHash !== head.hash) return { seq: head.seq + 1, reason: `prev_hash does not match the hash of entry ${head.seq} (entry ${head.seq} changed or removed)` };
  return null;
}

/**
 * Chain status for the dashboard banner. A full check reads every entry; after a good one, later checks read only
 * the entries appended since, starting from the remembered head hash (an edit of an already-verified entry shows
 * up at the next full check, or at once with `fresh`). Concurrent callers share one check in flight.
 */
export function createChainWatch(db: Db, options: ChainWatchOptions) {
  const ttl = options.ttlMs ?? 5000;
  const fullEvery = options.fullEveryMs ?? 600_000;
  const now = options.now ?? Date.now;
  const waitMs = options.waitMs ?? 1500;
  let cached: { status: ChainStatus; at: number } | null = null;
  let good: { seq: number; hash: string; checkpoint: ChainStatus['checkpoint']; fullAt: number } | null = null;
  let running: Promise<ChainStatus> | null = null;

  const keys = async () => (typeof options.publicJwks === 'function' ? options.publicJwks() : options.publicJwks);

  async function check(full: boolean): Promise<ChainStatus> {
    const started = now();
    const publicJwks = [...(await keys())];
    // Checkpoints before entries: every checkpoint read covers entries already committed (no false truncation).
    const since = full || !good ? 1 : good.seq + 1;
    const checkpoints = await db.select().from(auditCheckpoints).where(gte(auditCheckpoints.seq, since)).orderBy(asc(auditCheckpoints.seq));
    const [tail] = await db.select({ seq: auditEntries.seq }).from(auditEntries).orderBy(desc(auditEntries.seq)).limit(1);
    const until = Math.max(tail?.seq ?? 0, checkpoints[checkpoints.length - 1]?.seq ?? 0);
    const linkProblem = since > 1 ? await linksToHead(db, good!, tail?.seq ?? 0) : null;
    const result = linkProblem
      ? { ok: false, lastSeq: since - 1, head: good!.hash, lastCheckpoint: null, firstBad: linkProblem }
      : await verifyChain(entriesFrom(db, since, until), checkpoints, publicJwks, since > 1 ? { start: { seq: since } } : {});
    const firstBad = result.firstBad ?? null;
    const checkpoint = result.lastCheckpoint ?? good?.checkpoint ?? null;
    const status: ChainStatus = {
      ok: result.ok,
      verifiedUpTo: result.ok ? result.lastSeq : (firstBad?.seq ?? 1) - 1,
      checkpoint,
      firstBad,
      checkedAt: new Date(started).toISOString(),
      mode: since > 1 ? 'incremental' : 'full',
    };
    good = result.ok ? { seq: result.lastSeq, hash: result.head, checkpoint, fullAt: since > 1 ? good!.fullAt : started } : null;
    cached = { status, at: now() };
    return status;
  }

  /** Shown while the first check of a long chain runs: nothing claimed beyond what an earlier check proved. */
  function checking(): ChainStatus {
    return {
      ok: false,
      verifiedUpTo: good?.seq ?? 0,
      checkpoint: good?.checkpoint ?? null,
      firstBad: null,
      checkedAt: new Date(now()).toISOString(),
      mode: 'checking',
    };
  }

  return {
    /**
     * The cached verdict when recent, else a new (incremental when possible) check. A page never waits longer than
     * `waitMs` for it: a long full check goes on in the background and the last verdict (or 'checking') is returned.
     */
    async status(fresh = false): Promise<ChainStatus> {
      if (!fresh && cached && now() - cached.at < ttl) return cached.status;
      // A broken chain stays broken until a full check says otherwise; a fresh request always re-reads everything.
      const full = fresh || !good || now() - good.fullAt > fullEvery;
      // A periodic full re-check of a long chain runs in the background; meanwhile pages get the last verdict at once.
      if (!fresh && cached && (running || full)) {
        running ??= check(full).finally(() => {
          running = null;
        });
        running.catch(() => {});
        return cached.status;
      }
      if (fresh && running) await running.catch(() => null);
      running ??= check(full).finally(() => {
        running = null;
      });
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs)));
      const done = await Promise.race([running, late]).finally(() => clearTimeout(timer));
      return done ?? (fresh ? checking() : (cached?.status ?? checking()));
    },
  };
}

export type ChainWatch = ReturnType<typeof createChainWatch>;
