import { PgTransaction } from 'drizzle-orm/pg-core';
import type { Db } from '../store/db.ts';
import type { JsonObject } from '../types.ts';
import { KernelError } from '../errors.ts';
import { prepareInput, type AuditCheckpoint, type AuditEntry, type AuditInput, type PreparedInput } from './entry.ts';
import type { CheckpointSigner } from './signer.ts';
import { readCheckpoints, readEntries, readHead, writeBatch, writeCheckpoint, type AuditFilter, type Tail } from './store.ts';
import { verifyChain, type VerifyResult } from './verify.ts';

/** The hash-chained audit log: one chain per database, shared by every process that appends to it. */
export interface AuditLog {
  /**
   * Appends entries and returns them with seq and hash. With `tx` (from `db.transaction`), they commit or roll back
   * with the caller's state change, and the chain's head stays locked until then: append late in the transaction.
   * Without `tx`, concurrent appends share one statement. On embedded PGlite, never append without `tx` while holding
   * a transaction open: the batch would wait for it forever.
   */
  append(entries: AuditInput[], tx?: Db): Promise<AuditEntry[]>;
  /** Signs a checkpoint at the current head (or returns the one already there); null while the chain is empty. */
  checkpoint(): Promise<AuditCheckpoint | null>;
  /** Re-checks the whole stored chain and its checkpoints against the signer's key and any `publicJwks` given. */
  verify(options?: { publicJwks?: JsonObject[]; pageSize?: number }): Promise<VerifyResult>;
  /** Streams stored entries in seq order, filtered; `read({since})` is an export. */
  read(filter?: AuditFilter): AsyncIterable<AuditEntry>;
  /** Waits for queued appends to commit; appends after close are refused. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  /** Sign a checkpoint every this many entries (default 1000). */
  checkpointEvery?: number;
  /** Most entries one batch carries (default 5000). */
  maxBatch?: number;
}

interface Waiting {
  inputs: PreparedInput[];
  resolve: (entries: AuditEntry[]) => void;
  reject: (error: unknown) => void;
}

/**
 * Creates the audit log over `db`.
 * @example
 * await db.transaction(async (tx) => { await changeState(tx); await audit.append([{ kind: 'grant.minted', actor: 'kernel', requestId, data }], tx); });
 */
export function createAuditLog(db: Db, signer: CheckpointSigner, options: AuditLogOptions = {}): AuditLog {
  const every = options.checkpointEvery ?? 1000;
  const maxBatch = options.maxBatch ?? 5000;
  for (const [name, value] of [['checkpointEvery', every], ['maxBatch', maxBatch]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new KernelError('config_error', `${name} must be a positive integer, got ${value}`);
  }
  const queue: Waiting[] = [];
  let draining: Promise<void> | null = null;
  let closed = false;
  // The head as this process last wrote it: a guess, checked by writeBatch's compare-and-swap.
  let head: Tail | null = null;

  // Group commit: while one batch is written, new appends queue up and the next batch takes them all.
  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch: Waiting[] = [queue.shift()!];
        let size = batch[0]!.inputs.length;
        while (queue.length > 0 && size + queue[0]!.inputs.length <= maxBatch) size += batch[batch.push(queue.shift()!) - 1]!.inputs.length;
        try {
          const written = await commit(batch.flatMap((w) => w.inputs));
          let offset = 0;
          for (const waiting of batch) waiting.resolve(written.slice(offset, (offset += waiting.inputs.length)));
        } catch (error) {
          head = null;
          const reason = new KernelError('database_unavailable', `audit append failed: ${(error as Error).message}`, undefined, { cause: error });
          for (const waiting of batch) waiting.reject(reason);
        }
      }
    } finally {
      // Synchronous with the last empty-queue check, so an append arriving now starts a new drain.
      draining = null;
    }
  }

  // One autocommit statement while the head is where this process left it. When another appender moved it, re-read
  // and retry; after three misses, lock the head in a transaction, so a busy chain cannot starve the batch.
  async function commit(inputs: PreparedInput[]): Promise<AuditEntry[]> {
    let written: AuditEntry[] | null = null;
    for (let attempt = 0; attempt < 3 && !written; attempt++) {
      head ??= await readHead(db);
      written = await writeBatch(db, inputs, head, signer, every);
      if (!written) head = null;
    }
    written ??= await db.transaction(async (tx) => (await writeBatch(tx as unknown as Db, inputs, await readHead(tx as unknown as Db, true), signer, every))!);
    head = { seq: written[written.length - 1]!.seq, hash: written[written.length - 1]!.hash };
    return written;
  }

  return {
    async append(entries, tx) {
      if (!Array.isArray(entries)) throw new KernelError('bad_request', 'append takes an array of audit entries');
      const inputs = entries.map((entry, index) => prepareInput(entry, index));
      if (inputs.length === 0) return [];
      if (closed) throw new KernelError('internal', 'the audit log is closed; nothing more can be appended');
      if (tx !== undefined) {
        if (!(tx instanceof PgTransaction)) {
          throw new KernelError('bad_request', 'append(entries, tx): tx must be the transaction handle from db.transaction(...), not the database');
        }
        const inTx = tx as unknown as Db;
        return (await writeBatch(inTx, inputs, await readHead(inTx, true), signer, every))!;
      }
      const done = new Promise<AuditEntry[]>((resolve, reject) => queue.push({ inputs, resolve, reject }));
      // Start on a later microtask so appends made in the same tick share the first batch too.
      draining ??= Promise.resolve().then(drain);
      return done;
    },
    checkpoint: () =>
      db.transaction(async (raw) => {
        const tx = raw as unknown as Db;
        const tail = await readHead(tx, true);
        return tail.seq === 0 ? null : writeCheckpoint(tx, signer, tail.seq, tail.hash);
      }),
    verify: (verifyOptions = {}) => verifyStored(db, [signer.publicJwk, ...(verifyOptions.publicJwks ?? [])], verifyOptions),
    read: (filter) => readEntries(db, filter),
    async close() {
      closed = true;
      while (draining) await draining;
    },
  };
}

/** Re-checks the stored chain. Checkpoints are read first, so appends running meanwhile never look like truncation. */
export async function verifyStored(db: Db, publicJwks: readonly JsonObject[], options: { pageSize?: number } = {}): Promise<VerifyResult> {
  const checkpoints = await readCheckpoints(db);
  return verifyChain(readEntries(db, { pageSize: options.pageSize }), checkpoints, publicJwks);
}
