import { sql } from 'drizzle-orm';
import { TreeChecker, readCheckpoints, readEntries, treeSize, type Db } from '../../kernel/index.ts';
import type { ChainStatus } from './messages.ts';

export interface ChainWatchOptions {
  /** The log's verifier keys ("name+hash+key"), or a function that reads them. */
  verifierKeys: readonly string[] | (() => Promise<readonly string[]>);
  /** How long a verdict is served from cache (default 5 s). */
  ttlMs?: number;
  /** How long incremental checks may go on before the whole tree is re-built (default 10 min). */
  fullEveryMs?: number;
  /** Longest a caller waits for a check before getting the last verdict or 'checking' (default 1.5 s). */
  waitMs?: number;
  now?: () => number;
}

type Rows<T> = T[] | { rows: T[] };
const rowsOf = <T>(result: Rows<T>): T[] => (Array.isArray(result) ? result : result.rows);

/** Entries committed but not yet in the tree, and how long the oldest has waited: the sequencer's lag. */
async function queueState(db: Db, now: number): Promise<{ queued: number; lagMs: number }> {
  const [row] = rowsOf<{ n: number; oldest: string | null }>((await db.execute(sql`select count(*)::int as n, min(at) as oldest from audit_queue`)) as unknown as Rows<{ n: number; oldest: string | null }>);
  return { queued: row?.n ?? 0, lagMs: row?.oldest ? Math.max(0, now - Date.parse(row.oldest)) : 0 };
}

/**
 * Tree status for the dashboard banner. A full check re-builds the tree from every entry; after a good one, later
 * checks continue from the remembered frontier (its size and subtree hashes) and read only the entries added since
 * (an edit of an already-verified entry shows up at the next full check, or at once with `fresh`). Concurrent
 * callers share one check in flight.
 */
export function createChainWatch(db: Db, options: ChainWatchOptions) {
  const ttl = options.ttlMs ?? 5000;
  const fullEvery = options.fullEveryMs ?? 600_000;
  const now = options.now ?? Date.now;
  const waitMs = options.waitMs ?? 1500;
  let cached: { status: ChainStatus; at: number } | null = null;
  let good: { size: number; hashes: Buffer[]; checkpoint: ChainStatus['checkpoint']; fullAt: number } | null = null;
  let running: Promise<ChainStatus> | null = null;

  const keys = async () => (typeof options.verifierKeys === 'function' ? options.verifierKeys() : options.verifierKeys);

  async function check(full: boolean): Promise<ChainStatus> {
    const started = now();
    const from = full || !good ? null : good;
    const checker = new TreeChecker([...(await keys())], from ? { size: from.size, hashes: from.hashes } : undefined);
    // Checkpoints before entries: every checkpoint read covers entries already committed (no false truncation).
    for (const c of await readCheckpoints(db, (from?.size ?? 0) + 1)) checker.checkpoint(c.note, c.at);
    const size = await treeSize(db);
    if (from && size < from.size) checker.report(size + 1, `entries ${size + 1}..${from.size} were verified before and are now missing (truncated)`);
    else for await (const entry of readEntries(db, { since: (from?.size ?? 0) + 1 })) if (!checker.entry(entry)) break;
    const result = checker.finish();
    const checkpoint = result.checkpoint ? { size: result.checkpoint.size, at: result.checkpoint.at } : (from?.checkpoint ?? null);
    const status: ChainStatus = {
      ok: result.ok,
      verifiedUpTo: result.ok ? result.size : (result.firstBad?.seq ?? 1) - 1,
      treeSize: result.size,
      checkpoint,
      firstBad: result.firstBad ?? null,
      checkedAt: new Date(started).toISOString(),
      mode: from ? 'incremental' : 'full',
      sequencer: await queueState(db, now()),
    };
    good = result.ok ? { ...checker.state(), checkpoint, fullAt: from ? from.fullAt : started } : null;
    cached = { status, at: now() };
    return status;
  }

  /** Shown while the first check of a long log runs: nothing claimed beyond what an earlier check proved. */
  function checking(): ChainStatus {
    return {
      ok: false,
      verifiedUpTo: good?.size ?? 0,
      treeSize: good?.size ?? 0,
      checkpoint: good?.checkpoint ?? null,
      firstBad: null,
      checkedAt: new Date(now()).toISOString(),
      mode: 'checking',
      sequencer: null,
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
      // waitMs 0: never wait; answer with what is known and let the check finish in the background.
      const done = waitMs > 0 ? await Promise.race([running, late]).finally(() => clearTimeout(timer)) : (clearTimeout(timer), null);
      return done ?? (fresh ? checking() : (cached?.status ?? checking()));
    },
  };
}

export type ChainWatch = ReturnType<typeof createChainWatch>;
