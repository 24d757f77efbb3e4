import type { Json, JsonObject } from '../types.ts';
import { jcs } from '../digest.ts';
import { GENESIS_HASH, chainHash, entryJcs, type AuditCheckpoint, type AuditEntry } from './entry.ts';
import { createJwsVerifier, type JwsVerifier } from './signer.ts';

/** The outcome of re-checking a chain. `firstBad` names the first entry (by seq) where it stops being trustworthy. */
export interface VerifyResult {
  ok: boolean;
  entries: number;
  lastSeq: number;
  /** Hash of the last entry that verified, GENESIS_HASH for an empty chain. */
  head: string;
  lastCheckpoint: { seq: number; at: string; kid: string } | null;
  firstBad?: { seq: number; reason: string };
}

/** Where a partial chain (an export `since` some seq) starts; the first entry's prevHash is taken on trust. */
export type ChainStart = { seq: number };

type Checked = { checkpoint: AuditCheckpoint; kid?: string; error?: string };

/**
 * Walks a chain entry by entry in constant memory, so a million-entry table or bundle streams through. Checkpoints
 * added before the entries are checked as their seq passes; with `keepHashes` (32 bytes per entry), checkpoints may
 * also arrive afterwards, as a bundle lists them last.
 */
export class ChainChecker {
  private readonly verifier: JwsVerifier;
  private readonly pending = new Map<number, Checked[]>();
  private hashes: Buffer | null;
  private readonly firstSeq: number;
  private prev = GENESIS_HASH;
  private anchored: boolean;
  private broken = false;
  private count = 0;
  private lastSeq: number;
  private lastCheckpoint: VerifyResult['lastCheckpoint'] = null;
  private bad: { seq: number; reason: string } | null = null;

  constructor(publicJwks: readonly JsonObject[], options: { start?: ChainStart; keepHashes?: boolean } = {}) {
    this.verifier = createJwsVerifier(publicJwks);
    this.firstSeq = options.start?.seq ?? 1;
    this.anchored = this.firstSeq === 1;
    this.lastSeq = this.firstSeq - 1;
    this.hashes = options.keepHashes ? Buffer.alloc(32 * 1024) : null;
  }

  /** Records a problem at `seq`; only the lowest seq is kept, since everything after it is suspect anyway. */
  report(seq: number, reason: string): void {
    if (!this.bad || seq < this.bad.seq) this.bad = { seq, reason };
  }

  /** Verifies checkpoint signatures now; each is compared with the chain when its seq is (or was) reached. */
  async addCheckpoints(checkpoints: readonly AuditCheckpoint[]): Promise<void> {
    for (const checkpoint of checkpoints) {
      if (checkpoint.seq < this.firstSeq) continue;
      const checked = await this.checkSignature(checkpoint);
      if (checkpoint.seq <= this.lastSeq) this.compare(checked, this.storedHash(checkpoint.seq));
      else this.pending.set(checkpoint.seq, [...(this.pending.get(checkpoint.seq) ?? []), checked]);
    }
  }

  /** Checks the next entry; false once the chain is broken (later entries cannot be trusted). */
  entry(entry: AuditEntry): boolean {
    if (this.broken) return false;
    this.count++;
    const seq = entry.seq;
    const expected = this.lastSeq + 1;
    if (seq !== expected) {
      return this.breakAt(expected, `entry ${expected} is ${seq > expected ? `missing (next entry found is ${seq})` : `out of order (found ${seq} after ${expected - 1})`}`);
    }
    if (!this.anchored) [this.prev, this.anchored] = [entry.prevHash, true];
    else if (entry.prevHash !== this.prev) return this.breakAt(seq, `prev_hash does not match the hash of entry ${seq - 1} (entry ${seq - 1} changed or removed)`);
    const hash = chainHash(this.prev, entryJcs(seq, entry.at, entry.kind, entry.requestId, entry.actor, jcs(entry.data)));
    if (hash !== entry.hash) return this.breakAt(seq, 'stored hash does not match the entry content (entry edited)');
    this.prev = hash;
    this.lastSeq = seq;
    if (this.hashes) this.remember(seq, hash);
    for (const checked of this.pending.get(seq) ?? []) this.compare(checked, hash);
    this.pending.delete(seq);
    return true;
  }

  /** The verdict once all entries and checkpoints are in. */
  finish(): VerifyResult {
    // Checkpoints never reached lie past the last verified entry. The lowest decides: a valid signature there proves
    // entries existed that are now gone; a bad one is a forgery at its own seq.
    const [beyond] = [...this.pending.values()].flat().sort((a, b) => a.checkpoint.seq - b.checkpoint.seq || Number(!a.error) - Number(!b.error));
    if (beyond && !this.broken) {
      const missing = this.lastSeq + 1;
      if (beyond.error) this.report(beyond.checkpoint.seq, beyond.error);
      else this.report(missing, `entries ${missing}..${beyond.checkpoint.seq} are missing: a checkpoint signed the chain at ${beyond.checkpoint.seq} (truncated)`);
    }
    const result: VerifyResult = { ok: this.bad === null, entries: this.count, lastSeq: this.lastSeq, head: this.prev, lastCheckpoint: this.lastCheckpoint };
    if (this.bad) result.firstBad = this.bad;
    return result;
  }

  private breakAt(seq: number, reason: string): false {
    this.broken = true;
    this.report(seq, reason);
    return false;
  }

  private async checkSignature(checkpoint: AuditCheckpoint): Promise<Checked> {
    const where = `checkpoint at ${checkpoint.seq}`;
    const verified = await this.verifier.verify(checkpoint.signature);
    if ('error' in verified) return { checkpoint, error: `${where}: ${verified.error}` };
    let signed: Json;
    try {
      signed = JSON.parse(new TextDecoder().decode(verified.payload)) as Json;
    } catch {
      return { checkpoint, error: `${where}: signed payload is not JSON` };
    }
    if (jcs(signed) !== jcs({ seq: checkpoint.seq, hash: checkpoint.hash, at: checkpoint.at })) {
      return { checkpoint, error: `${where}: its seq, hash or time differ from what was signed` };
    }
    return { checkpoint, kid: verified.kid };
  }

  private compare({ checkpoint, error, kid }: Checked, chainHashAtSeq: string): void {
    if (error) return this.report(checkpoint.seq, error);
    if (checkpoint.hash !== chainHashAtSeq) {
      return this.report(checkpoint.seq, `checkpoint at ${checkpoint.seq} signed a different chain hash (entries up to ${checkpoint.seq} were rewritten)`);
    }
    if (!this.lastCheckpoint || checkpoint.seq >= this.lastCheckpoint.seq) this.lastCheckpoint = { seq: checkpoint.seq, at: checkpoint.at, kid: kid ?? '' };
  }

  private remember(seq: number, hash: string): void {
    const offset = (seq - this.firstSeq) * 32;
    if (offset + 32 > this.hashes!.length) this.hashes = Buffer.concat([this.hashes!, Buffer.alloc(this.hashes!.length)]);
    this.hashes!.write(hash, offset, 32, 'hex');
  }

  private storedHash(seq: number): string {
    if (!this.hashes) throw new Error('ChainChecker: checkpoints after entries need keepHashes');
    const offset = (seq - this.firstSeq) * 32;
    return this.hashes.toString('hex', offset, offset + 32);
  }
}

/** Re-checks a chain: seq continuity from 1 (or `start`), every prev_hash and hash, every checkpoint's signature and hash. */
export async function verifyChain(
  entries: Iterable<AuditEntry> | AsyncIterable<AuditEntry>,
  checkpoints: readonly AuditCheckpoint[],
  publicJwks: readonly JsonObject[],
  options: { start?: ChainStart } = {},
): Promise<VerifyResult> {
  const checker = new ChainChecker(publicJwks, options);
  await checker.addCheckpoints(checkpoints);
  for await (const entry of entries) if (!checker.entry(entry)) break;
  return checker.finish();
}
