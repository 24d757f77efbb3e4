import { PgTransaction } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';
import type { Db } from '../store/db.ts';
import { KernelError } from '../errors.ts';
import { prepareInput, type AuditInput, type PreparedInput } from './entry.ts';
import type { NoteSigner } from './note.ts';
import { enqueue, integrate, latestCheckpoint, rowsOf, type StoredCheckpoint } from './store.ts';

/** The audit log: a queue every transaction writes to, and one sequencer that makes it a signed Merkle tree. */
export interface AuditLog {
  /**
   * Queues entries. With `tx` (from `db.transaction`) they commit or roll back with the caller's state change, taking
   * no lock others wait for. Without `tx`, concurrent calls share one insert. The sequencer numbers them within about
   * a second of commit; await `sync()` to see them in the tree. On embedded PGlite, never append without `tx` (or
   * call `sync`) while holding a transaction open: it would wait for yours forever.
   */
  append(entries: AuditInput[], tx?: Db): Promise<void>;
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
  /** Called after each batch commits, with its checkpoint (witnesses); errors are the callee's to report. */
  onCheckpoint?: (checkpoint: StoredCheckpoint) => void;
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
  let lastAppend = 0;
  let wake: (() => void) | null = null;
  // One batch at a time in this process; the advisory lock orders batches across processes.
  let batches: Promise<unknown> = Promise.resolve();

  function batch(): Promise<StoredCheckpoint | null | 'busy'> {
    const run = batches.then(() =>
      db.transaction(async (raw) => {
        const tx = raw as unknown as Db;
        const [lock] = rowsOf<{ got: boolean }>(await tx.execute(sql`select pg_try_advisory_xact_lock(hashtext('countersign.audit.sequencer')) as got`));
        if (!lock?.got) return 'busy' as const;
        return integrate(tx, signer, maxBatch);
      }),
    );
    batches = run.catch(() => {});
    return run.then((checkpoint) => {
      if (checkpoint && checkpoint !== 'busy') options.onCheckpoint?.(checkpoint);
      return checkpoint;
    });
  }

  // Appends kick the loop; it keeps polling briefly after each (the appender commits after its call returns) and
  // slowly otherwise, for entries queued by other replicas or left by a crash.
  const loop = (async () => {
    while (!closed) {
      let result: Awaited<ReturnType<typeof batch>> = null;
      try {
        result = await batch();
      } catch (error) {
        options.onError?.(error);
      }
      if (result && result !== 'busy') continue;
      const busy = Date.now() - lastAppend < 1000;
      await Promise.race([sleep(busy ? 5 : idleMs), new Promise<void>((done) => (wake = done))]);
      wake = null;
    }
  })();

  // Non-transactional appends made in the same tick share one insert.
  let pending: { inputs: PreparedInput[]; done: () => void; fail: (e: unknown) => void }[] = [];
  function flush() {
    const group = pending;
    pending = [];
    enqueue(db, group.flatMap((g) => g.inputs)).then(
      () => group.forEach((g) => g.done()),
      (error: unknown) => group.forEach((g) => g.fail(new KernelError('database_unavailable', `audit append failed: ${(error as Error).message}`, undefined, { cause: error }))),
    );
  }

  return {
    async append(entries, tx) {
      if (!Array.isArray(entries)) throw new KernelError('bad_request', 'append takes an array of audit entries');
      const inputs = entries.map((entry, index) => prepareInput(entry, index));
      if (inputs.length === 0) return;
      if (closed) throw new KernelError('internal', 'the audit log is closed; nothing more can be appended');
      lastAppend = Date.now();
      setTimeout(() => wake?.(), 1).unref();
      if (tx === undefined) {
        return new Promise<void>((done, fail) => {
          if (pending.push({ inputs, done, fail }) === 1) queueMicrotask(flush);
        });
      }
      if (!(tx instanceof PgTransaction)) {
        throw new KernelError('bad_request', 'append(entries, tx): tx must be the transaction handle from db.transaction(...), not the database');
      }
      await enqueue(tx as unknown as Db, inputs);
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
      await loop;
      await batches;
    },
  };
}
