import { PgTransaction } from 'drizzle-orm/pg-core';
import { sql, type SQL } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { KernelError } from '../errors.ts';
import { prepareInput, type AuditInput, type IntegratedEntry, type PreparedInput } from './entry.ts';
import type { NoteSigner } from './note.ts';
import { integrate, latestCheckpoint, queueInsert, rowsOf, type StoredCheckpoint } from './store.ts';

/** The audit log: a queue every transaction writes to, and one sequencer that makes it a signed Merkle tree. */
export interface AuditLog {
  /**
   * Queues entries. With `tx` (from `db.transaction`) they commit or roll back with the caller's state change, taking
   * no lock others wait for. Without `tx`, concurrent calls share one insert. The sequencer numbers them within about
   * a second of commit; await `sync()` to see them in the tree. On embedded PGlite, never append without `tx` (or
   * call `sync`) while holding a transaction open: it would wait for yours forever.
   */
  append(entries: AuditInput[], tx?: Db): Promise<void>;
  /**
   * The insert that queues entries, for the caller to run as part of its own statement (a data-modifying CTE), so
   * they commit with its change in one round trip.
   */
  queued(entries: AuditInput[]): SQL;
  /**
   * Backpressure: resolves at once unless the last batch held more than `maxBacklog` entries, then after the next
   * batch. Appends without `tx` wait on it; a writer should await it before opening its transaction (never inside
   * one: the batch may need the connection it holds), so writers cannot outrun the sequencer and an entry's merge
   * delay stays within a few batches however hard they push (Trillian bounds its queue with quotas).
   */
  admit(): Promise<void>;
  /** Resolves once everything queued before the call is in the tree; returns the checkpoint that covers it. */
  sync(): Promise<StoredCheckpoint | null>;
  /** Stops the sequencer after a last batch; appends after close are refused. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  /** Most entries one batch integrates (default 10,000). */
  maxBatch?: number;
  /** How often an idle sequencer looks for entries other processes queued (default 500 ms). */
  idleMs?: number;
  /**
   * How long after an append the sequencer runs (default 50 ms): long enough for the appender to commit, and appends
   * within it share one batch, so a busy gateway runs one batch per interval instead of polling its database. A round
   * costs five round trips whatever its size: at 67 calls/s, 20 ms made 0.4 rounds per call, 50 ms 0.23, for a merge
   * delay p50 of 25 and 40 ms (bench/NOTES.md, seventh pass; issue 11's target is 100 ms).
   */
  kickMs?: number;
  /** Entries in one batch above which writers wait for the next batch (default 4,000; see `admit`). */
  maxBacklog?: number;
  /**
   * Called after each batch this process integrates commits, with its checkpoint (witnesses) and its entries (the
   * operator feed, which so need not read them back); errors are the callee's to report.
   */
  onCheckpoint?: (checkpoint: StoredCheckpoint, entries: IntegratedEntry[]) => void;
  /** Called when a batch fails (it is retried; nothing queued is lost). */
  onError?: (error: unknown) => void;
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms).unref());

/**
 * Creates the log over `db` and starts its sequencer. Every process may run one: a batch runs only while holding a
 * transaction-scoped advisory lock, so replicas sharing PostgreSQL take turns and produce one tree.
 * @example
 * await db.transaction(async (tx) => { await changeState(tx); await audit.append([{ kind: 'grant.minted', actor: 'kernel', requestId, data }], tx); });
 */
export function createAuditLog(db: Db, signer: NoteSigner, options: AuditLogOptions = {}): AuditLog {
  const maxBatch = options.maxBatch ?? 10_000;
  const idleMs = options.idleMs ?? 500;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new KernelError('config_error', `maxBatch must be a positive integer, got ${maxBatch}`);
  let closed = false;
  let wake: (() => void) | null = null;
  let kicked = false;
  let kick: ReturnType<typeof setTimeout> | null = null;
  // One batch at a time in this process; the advisory lock orders batches across processes. The next batch starts
  // from the tree's right edge as this process's last one left it, unless another process has added to it since.
  let batches: Promise<unknown> = Promise.resolve();
  const tip = {};
  let behind = false;
  let waiting: (() => void)[] = [];

  /** Integrates one batch: its checkpoint and entries, null when the queue was empty, or 'busy'. */
  function batch() {
    const run = batches.then(() => db.transaction((tx) => integrate(tx as unknown as Db, signer, maxBatch, tip)));
    batches = run.catch(() => {});
    const release = (result?: Awaited<typeof run>) => {
      behind = !!result && result !== 'busy' && result.entries.length > (options.maxBacklog ?? 4000);
      for (const go of waiting.splice(0)) go();
    };
    return run.then((result) => {
      if (result && result !== 'busy') options.onCheckpoint?.(result.checkpoint, result.entries);
      release(result);
      return result;
    }, (error: unknown) => (release(), Promise.reject(error)));
  }

  // An append kicks the loop `kickMs` later (the appender commits after its call returns); a kick during a batch runs
  // the next one straight after it, as does a full batch. Otherwise it polls slowly, for entries queued by other
  // replicas, or committed after the batch their kick ran.
  const loop = (async () => {
    // A close wakes it for one last batch, so what was appended before the close is integrated by this process.
    for (let last = false; !last; ) {
      [last, kicked] = [closed, false];
      const result = await batch().catch((error: unknown) => {
        options.onError?.(error);
        return null;
      });
      if (last || kicked || (result && result !== 'busy' && result.entries.length === maxBatch)) continue;
      await Promise.race([sleep(idleMs), new Promise<void>((done) => (wake = done))]);
      wake = null;
    }
  })();

  // Non-transactional appends made in the same tick share one insert.
  let pending: { inputs: PreparedInput[]; done: () => void; fail: (e: unknown) => void }[] = [];
  function flush() {
    const group = pending;
    pending = [];
    db.execute(queueInsert(group.flatMap((g) => g.inputs))).then(
      () => group.forEach((g) => g.done()),
      (error: unknown) => group.forEach((g) => g.fail(new KernelError('database_unavailable', `audit append failed: ${(error as Error).message}`, undefined, { cause: error }))),
    );
  }

  /** Checks entries and, when there are any, kicks the sequencer; nothing is queued yet. */
  function prepare(entries: AuditInput[]): PreparedInput[] {
    if (!Array.isArray(entries)) throw new KernelError('bad_request', 'append takes an array of audit entries');
    const inputs = entries.map((entry, index) => prepareInput(entry, index));
    if (inputs.length === 0) return inputs;
    if (closed) throw new KernelError('internal', 'the audit log is closed; nothing more can be appended');
    kick ??= setTimeout(() => { kick = null; kicked = true; wake?.(); }, options.kickMs ?? 50).unref();
    return inputs;
  }

  const admit = () => (behind && !closed ? new Promise<void>((go) => (waiting.push(go), (kicked = true), wake?.())) : Promise.resolve());
  return {
    queued: (entries) => queueInsert(prepare(entries)),
    admit,
    async append(entries, tx) {
      const inputs = prepare(entries);
      if (inputs.length === 0) return;
      if (tx === undefined) {
        await admit();
        return new Promise<void>((done, fail) => {
          if (pending.push({ inputs, done, fail }) === 1) queueMicrotask(flush);
        });
      }
      if (!(tx instanceof PgTransaction)) throw new KernelError('bad_request', 'append(entries, tx): tx must be the transaction handle from db.transaction(...), not the database');
      await tx.execute(queueInsert(inputs));
    },
    async sync() {
      const [mark] = rowsOf<{ id: string | number | null }>(await db.execute(sql`select max(id) as id from audit_queue`));
      while (mark?.id !== null && mark?.id !== undefined) {
        const [left] = rowsOf<{ n: number }>(await db.execute(sql`select count(*)::int as n from audit_queue where id <= ${mark.id}`));
        if (!left?.n) break;
        if ((await batch()) === 'busy') await sleep(5);
      }
      return latestCheckpoint(db);
    },
    async close() {
      closed = true;
      wake?.();
      for (const go of waiting.splice(0)) go();
      await loop;
      await batches;
    },
  };
}
