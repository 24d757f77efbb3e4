import {
  KernelError,
  entryJcs,
  frontierNodes,
  inclusionProof,
  jcs,
  latestCheckpoint,
  overStoredTree,
  readCheckpoints,
  readEntries,
  type AuditEntry,
  type Db,
  type JsonObject,
  type NoteSigner,
} from '../../kernel/index.ts';

/**
 * Exports of the log that prove themselves with no database. One JSON line each:
 *   header      {"type":"header","note":...}: a signed note (first line HEADER_LINE, then JCS of BundleHeader)
 *   entry       the entry's JCS itself, so SHA-256(0x00 || line) is its leaf hash; a run of consecutive seqs
 *   checkpoint  {"type":"checkpoint","note":...}: a signed checkpoint, right after the entry at its size
 *   proof       {"type":"proof","leaf":JCS,"path":[hex]}: one entry proven by inclusion in the header's checkpoint
 * A bundle is header + entries from `since` (the tree before it given as its frontier) + proofs of the earlier
 * entries its approvals need; a receipt is header + proofs of one request's entries and its approvers' enrollments.
 */
export const BUNDLE_FORMAT = 'countersign-audit/v2';
export const HEADER_LINE = 'countersign-audit-export/v2';

export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  kind: 'bundle' | 'receipt';
  createdAt: string;
  /** Every key the log was signed with; a verifier should compare them with the one it trusts (`--key`). */
  verifierKeys: string[];
  /** The signed checkpoint everything in the export is checked against (null for an empty log). */
  checkpoint: string | null;
  /** First seq of the consecutive entries (bundle); the hashes of the complete subtrees before it. */
  since: number;
  frontier: string[];
  requestId: string | null;
}

/** What exports need from the running log: its store, its signer (for the header) and its keys. */
export interface ExportSource {
  db: Db;
  signer: NoteSigner;
  verifierKeys: string[];
}

const ENROLLMENTS = ['passkey.enrolled', 'device.paired'];
const lineOf = (e: AuditEntry) => entryJcs(e.seq, e.at, e.kind, e.requestId, e.actor, jcs(e.data));

function headerLine(source: ExportSource, header: Omit<BundleHeader, 'format' | 'createdAt' | 'verifierKeys'>): string {
  const full: BundleHeader = { format: BUNDLE_FORMAT, createdAt: new Date().toISOString(), verifierKeys: source.verifierKeys, ...header };
  return JSON.stringify({ type: 'header', note: source.signer.sign(`${HEADER_LINE}\n${jcs(full as unknown as JsonObject)}\n`) });
}

async function proofLine(db: Db, entry: AuditEntry, size: number): Promise<string> {
  const path = await overStoredTree(db, (node) => inclusionProof(entry.seq - 1, size, node));
  return JSON.stringify({ type: 'proof', leaf: lineOf(entry), path: path.map((p) => p.toString('hex')) });
}

/** The enrollment entries (up to `size`) of the keys that signed `approvals`. */
async function enrollmentsFor(db: Db, approvals: AuditEntry[], size: number, before = Number.MAX_SAFE_INTEGER): Promise<AuditEntry[]> {
  const keys = new Set(approvals.map((a) => String((a.data as JsonObject).keyId)));
  const found: AuditEntry[] = [];
  for (const kind of ENROLLMENTS) {
    for await (const e of readEntries(db, { kind, until: Math.min(size, before - 1) })) {
      const data = e.data as JsonObject;
      if (keys.has(String(data.credentialId ?? data.deviceId))) found.push(e);
    }
  }
  return found;
}

/** Exports the log from `since` up to its latest checkpoint. Yields lines without their newline. */
export async function* exportBundle(source: ExportSource, options: { since?: number } = {}): AsyncGenerator<string> {
  const { db } = source;
  const since = options.since ?? 1;
  if (!Number.isInteger(since) || since < 1) throw new KernelError('bad_request', `since must be a positive entry seq, got ${since}`);
  const head = await latestCheckpoint(db);
  const size = head?.size ?? 0;
  const start = Math.min(since, size + 1);
  const frontier = await overStoredTree(db, (node) => frontierNodes(start - 1).map(([level, index]) => node(level, index)));
  yield headerLine(source, { kind: 'bundle', checkpoint: head?.note ?? null, since: start, frontier: frontier.map((h) => h.toString('hex')), requestId: null });
  // Signed checkpoints inside the range, one per thousand entries at most, so an edit is placed within a batch.
  const marks: { size: number; note: string }[] = [];
  for (const c of await readCheckpoints(db, start, size - 1)) if (c.size - (marks.at(-1)?.size ?? start - 1) >= 1000) marks.push(c);
  const approvals: AuditEntry[] = [];
  for await (const entry of readEntries(db, { since: start, until: size })) {
    yield lineOf(entry);
    if (entry.kind === 'approval.decided') approvals.push(entry);
    if (marks[0]?.size === entry.seq) yield JSON.stringify({ type: 'checkpoint', note: marks.shift()!.note });
  }
  if (start === 1) return;
  // What the approvals in range need from before it: their requests as received and their keys' enrollments.
  const ids = new Set(approvals.map((a) => a.requestId));
  for (const id of ids) for await (const e of readEntries(db, { requestId: id!, kind: 'request.received', until: start - 1 })) yield await proofLine(db, e, size);
  for (const e of await enrollmentsFor(db, approvals, size, start)) yield await proofLine(db, e, size);
}

/** A receipt for one request: its entries and its approvers' enrollments, each with an inclusion proof. */
export async function* exportReceipt(source: ExportSource, requestId: string): AsyncGenerator<string> {
  const { db } = source;
  const head = await latestCheckpoint(db);
  const entries: AuditEntry[] = [];
  for await (const e of readEntries(db, { requestId, until: head?.size ?? 0 })) entries.push(e);
  if (!head || entries.length === 0) throw new KernelError('unknown_request', `the audit log has no entries for request ${requestId} yet; check the id (countersign audit export lists all)`);
  yield headerLine(source, { kind: 'receipt', checkpoint: head.note, since: 0, frontier: [], requestId });
  for (const e of entries) yield await proofLine(db, e, head.size);
  for (const e of await enrollmentsFor(db, entries.filter((e) => e.kind === 'approval.decided'), head.size)) yield await proofLine(db, e, head.size);
}
