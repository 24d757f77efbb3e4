import type { Db } from '../store/db.ts';
import { leafHash, type AuditEntry } from './entry.ts';
import { Frontier } from './merkle.ts';
import { openCheckpoint, type Checkpoint } from './note.ts';
import { readCheckpoints, readEntries, type StoredCheckpoint } from './store.ts';

/** The outcome of re-building a tree. `firstBad` names the first entry (by seq) where it stops being trustworthy. */
export interface VerifyResult {
  ok: boolean;
  /** Leaves re-hashed. */
  entries: number;
  /** Size and root (hex) of the tree re-built from them. */
  size: number;
  root: string;
  /** The largest signed checkpoint the re-built tree matched. */
  checkpoint: { size: number; at: string | null } | null;
  firstBad?: { seq: number; reason: string };
}

/** Opens a checkpoint note with whichever of the log's verifier keys signed it. */
export function openWithAny(note: string, verifierKeys: readonly string[]): Checkpoint | { error: string } {
  let result: Checkpoint | { error: string } = { error: 'no verifier key for this log is known' };
  for (const key of verifierKeys) if ('root' in (result = openCheckpoint(note, key))) return result;
  return result;
}

/**
 * Re-builds a tree leaf by leaf in constant memory (a million-entry log or bundle streams through) and compares its
 * root with every signed checkpoint as their sizes pass. A bundle starting past leaf 1 begins from the frontier of
 * the leaves before it; those hashes are proven by the first checkpoint the rebuilt root matches.
 */
export class TreeChecker {
  private readonly frontier: Frontier;
  private readonly due = new Map<number, { note: string; at: string | null; root?: Buffer }[]>();
  private bad: { seq: number; reason: string } | null = null;
  private matched: VerifyResult['checkpoint'] = null;
  private count = 0;

  constructor(
    private readonly verifierKeys: readonly string[],
    start: { size: number; hashes: Buffer[] } = { size: 0, hashes: [] },
  ) {
    this.frontier = new Frontier(start.size, start.hashes);
  }

  get size(): number { return this.frontier.size; }

  /** Where a later check can continue from: the size verified and the frontier's hashes. */
  state(): { size: number; hashes: Buffer[] } {
    return { size: this.size, hashes: this.frontier.hashes() };
  }

  /** Records a problem at `seq`; only the lowest is kept, since everything after it is suspect anyway. */
  report(seq: number, reason: string): void {
    if (!this.bad || seq < this.bad.seq) this.bad = { seq, reason };
  }

  /** Checks a checkpoint's signature now and its root when the tree reaches its size (now, if it already has). */
  checkpoint(note: string, at: string | null = null): Checkpoint | null {
    const opened = openWithAny(note, this.verifierKeys);
    if ('error' in opened) return this.report(Number(/^.*\n(\d+)\n/.exec(note)?.[1] ?? this.size + 1), `checkpoint: ${opened.error}`), null;
    if (opened.size === this.size) this.compare(opened.size, opened.root, at);
    else if (opened.size > this.size) this.due.set(opened.size, [...(this.due.get(opened.size) ?? []), { note, at, root: opened.root }]);
    return opened;
  }

  /** Adds the next leaf; false once a gap makes the rest unverifiable. */
  leaf(seq: number, leaf: Buffer): boolean {
    if (seq !== this.size + 1) {
      this.report(this.size + 1, seq > this.size + 1 ? `entry ${this.size + 1} is missing (next found is ${seq})` : `entry ${seq} is out of order (after ${this.size})`);
      return false;
    }
    this.count++;
    this.frontier.push(leaf);
    for (const due of this.due.get(seq) ?? []) this.compare(seq, due.root!, due.at);
    this.due.delete(seq);
    return true;
  }

  /** Adds a stored entry, re-hashing its content and comparing with its stored leaf hash. */
  entry(entry: AuditEntry): boolean {
    const leaf = leafHash(entry);
    if (entry.hash && entry.hash !== leaf.toString('hex')) this.report(entry.seq, `entry ${entry.seq} was edited: its content no longer matches its leaf hash`);
    return this.leaf(entry.seq, leaf);
  }

  finish(): VerifyResult {
    const beyond = Math.min(...this.due.keys());
    if (Number.isFinite(beyond)) this.report(this.size + 1, `entries ${this.size + 1}..${beyond} are missing: a checkpoint signed a tree of ${beyond} (truncated)`);
    const result: VerifyResult = { ok: !this.bad, entries: this.count, size: this.size, root: this.frontier.root().toString('hex'), checkpoint: this.matched };
    if (this.bad) result.firstBad = this.bad;
    return result;
  }

  private compare(size: number, root: Buffer, at: string | null): void {
    if (!this.frontier.root().equals(root)) return this.report(size, `the checkpoint signed at size ${size} has another root: entries up to ${size} were rewritten, removed or reordered`);
    if (!this.matched || size >= this.matched.size) this.matched = { size, at };
  }
}

/** Re-builds the stored tree from its entries and checks every stored checkpoint and any `trusted` ones (witnessed). */
export async function verifyStored(db: Db, verifierKeys: readonly string[], trusted: readonly string[] = []): Promise<VerifyResult> {
  const checker = new TreeChecker(verifierKeys);
  // Checkpoints first: each one read covers entries already committed, so none looks like a truncation.
  const stored: StoredCheckpoint[] = await readCheckpoints(db);
  for (const c of stored) checker.checkpoint(c.note, c.at);
  for (const note of trusted) checker.checkpoint(note);
  for await (const entry of readEntries(db)) if (!checker.entry(entry)) break;
  return checker.finish();
}
