import {
  KernelError,
  TreeChecker,
  hashLeaf,
  openNote,
  openWithAny,
  requestDigest,
  verifyInclusion,
  type JsonObject,
  type RequestBody,
  type VerifyResult,
} from '../../kernel/index.ts';
import { createReadStream } from 'node:fs';
import { BUNDLE_FORMAT, HEADER_LINE, type BundleHeader } from './bundle.ts';

/** Re-verifies an approval's stored evidence with the enrolled key: null when it holds, else what does not. */
export type EvidenceVerifier = (receipt: JsonObject, key: string | JsonObject, digest: string) => Promise<string | null>;

export interface ExportResult extends VerifyResult {
  kind: BundleHeader['kind'];
  requestId: string | null;
  /** The verifier key the header and checkpoint were checked with. */
  key: string;
  proven: number;
  approvals: { checked: number; unchecked: { seq: number; reason: string }[] };
}

type Parsed = { seq: number; kind: string; requestId: string | null; actor: string; data: JsonObject };
/** Requests as received, by their requestId as JSON (the line itself), and enrollments by key id. */
type Seen = { requests: Map<string, string>; keys: Map<string, Parsed> };

/** Opens the signed header with the trusted key (or, lacking one, with the keys it names) and checks its shape. */
function openHeader(line: string | undefined, trusted: string | undefined): { header: BundleHeader; key: string } {
  let note: unknown;
  try {
    note = (JSON.parse(line ?? '') as { type?: string; note?: unknown }).note;
  } catch {
    // reported below
  }
  if (typeof note !== 'string') throw new KernelError('bad_request', `not a Countersign audit export: the first line must be {"type":"header","note":...} (${BUNDLE_FORMAT})`);
  const claimed = JSON.parse(note.split('\n')[1] ?? 'null') as Partial<BundleHeader> | null;
  const keys = trusted ? [trusted] : Array.isArray(claimed?.verifierKeys) ? claimed.verifierKeys.map(String) : [];
  for (const key of keys) {
    const opened = openNote(note, key);
    if ('error' in opened) continue;
    const [first, body] = opened.text.split('\n');
    const header = JSON.parse(body ?? 'null') as BundleHeader;
    if (first !== HEADER_LINE || header?.format !== BUNDLE_FORMAT || !Array.isArray(header.frontier) || !Number.isSafeInteger(header.since)) break;
    return { header, key };
  }
  throw new KernelError('audit_broken', `the export header does not verify with ${trusted ? 'the key you gave' : 'the keys it names'}: it was edited after signing, or signed by another key`);
}

/** The entry's seq, read from its end (JCS puts `seq` last): NaN when the line does not end so. */
function seqAtEnd(line: string): number {
  const at = line.lastIndexOf(',"seq":');
  const digits = at < 0 || !line.endsWith('}') ? '' : line.slice(at + 7, -1);
  return /^\d{1,15}$/.test(digits) ? Number(digits) : NaN;
}

/**
 * An entry's own kind, without parsing it. JCS orders an entry's keys actor, at, data, kind, requestId, seq, and a
 * quote inside a JSON string is escaped, so the last `,"kind":"` is the entry's own whatever its data holds.
 */
function kindOf(line: string): string {
  const at = line.lastIndexOf(',"kind":"');
  return at < 0 ? '' : line.slice(at + 9, line.indexOf('"', at + 9));
}
const WATCHED = new Set(['approval.decided', 'request.received', 'passkey.enrolled', 'device.paired']);

/**
 * Verifies a bundle or receipt with no database: the header's signature, every checkpoint, every entry against the
 * tree (consecutive entries rebuild it; others carry inclusion proofs), and every approval against the enrollment
 * of the key that signed it and the request as received. Throws `bad_request` if the input is not an export.
 */
export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>, options: { key?: string; verifyEvidence?: EvidenceVerifier } = {}): Promise<ExportResult> {
  const verifier = exportVerifier(options);
  for await (const line of lines) verifier.line(line);
  return verifier.finish();
}

/**
 * `verifyExport` over a file, read in 1 MiB pieces and cut into lines here: readline's line events cost about a
 * sixth of a million-entry bundle's verification (2026-11-28).
 */
export async function verifyExportFile(path: string, options: { key?: string; verifyEvidence?: EvidenceVerifier } = {}): Promise<ExportResult> {
  const verifier = exportVerifier(options);
  await eachLine(path, verifier.line);
  return verifier.finish();
}

/** Calls `each` with every line of the file (without its line ending), reading it in large pieces. */
export async function eachLine(path: string, each: (line: string) => void): Promise<void> {
  let rest = '';
  for await (const piece of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const text = rest + (piece as string);
    let start = 0;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
      each(text.slice(start, end));
      start = end + 1;
    }
    rest = text.slice(start);
  }
  if (rest !== '') each(rest);
}

/** The line-by-line state of `verifyExport`: `line` for each line in order, then `finish` once. */
function exportVerifier(options: { key?: string; verifyEvidence?: EvidenceVerifier }): { line: (raw: string) => void; finish: () => Promise<ExportResult> } {
  let checker: TreeChecker | null = null;
  let opened: { header: BundleHeader; key: string } | null = null;
  let tree: { size: number; root: Buffer } = { size: 0, root: Buffer.alloc(32) };
  let lineNo = 0;
  let proven = 0;
  let intact = true;
  // Requests as received are kept as their line and parsed only when an approval names them: a bundle holds many more
  // requests than approvals, and parsing them all took 0.45 s of a million-entry bundle's verification (2026-11-28).
  const seen: Seen = { requests: new Map(), keys: new Map() };
  const approvals: Parsed[] = [];
  const remember = (text: string, kind: string) => {
    // The requestId (a JSON string or null) runs from after the kind to seq.
    if (kind === 'request.received') return void seen.requests.set(text.slice(text.lastIndexOf(',"requestId":') + 13, text.lastIndexOf(',"seq":')), text);
    const e = JSON.parse(text) as Parsed;
    if (e.kind === 'approval.decided') approvals.push(e);
    else if (e.kind === 'passkey.enrolled' || e.kind === 'device.paired') seen.keys.set(String(e.data.credentialId ?? e.data.deviceId), e);
  };
  const line = (raw: string): void => {
    lineNo++;
    const text = raw.charCodeAt(0) === 123 && raw.charCodeAt(raw.length - 1) === 125 ? raw : raw.trim(); // { ... }: nothing to trim
    if (!opened || !checker) {
      opened = openHeader(text, options.key);
      const { header, key } = opened;
      const frontier = header.frontier.map((h) => Buffer.from(String(h), 'hex'));
      checker = new TreeChecker([key], { size: Math.max(header.since - 1, 0), hashes: frontier });
      const head = header.checkpoint ? openWithAny(header.checkpoint, [key]) : { size: 0, root: Buffer.alloc(32) };
      if ('error' in head) throw new KernelError('audit_broken', `the export's checkpoint: ${head.error}`);
      tree = head;
      if (header.kind === 'bundle' && header.checkpoint) checker.checkpoint(header.checkpoint);
      return;
    }
    if (text === '') return;
    if (text.startsWith('{"actor":')) {
      if (!intact) return;
      const seq = seqAtEnd(text);
      if (!Number.isSafeInteger(seq)) {
        checker.report(checker.size + 1, `line ${lineNo}: not an audit entry`);
        intact = false;
        return;
      }
      if (seq > tree.size) checker.report(seq, `entry ${seq} lies beyond the export's checkpoint (${tree.size} entries): it is not covered by any signature`);
      intact = checker.leaf(seq, hashLeaf(text));
      const kind = kindOf(text);
      if (intact && WATCHED.has(kind)) remember(text, kind);
      return;
    }
    type Line = { type?: string; note?: unknown; leaf?: unknown; path?: unknown };
    let value: Line | null = null;
    try {
      value = JSON.parse(text) as Line;
    } catch {
      value = null;
    }
    if (value?.type === 'checkpoint' && typeof value.note === 'string') checker.checkpoint(value.note);
    else if (value?.type === 'proof' && typeof value.leaf === 'string' && Array.isArray(value.path)) {
      const seq = seqAtEnd(value.leaf) || 0;
      const kind = kindOf(value.leaf);
      const path = (value.path as unknown[]).map((p) => Buffer.from(String(p), 'hex'));
      if (!verifyInclusion(seq - 1, tree.size, hashLeaf(value.leaf), path, tree.root)) checker.report(seq, `entry ${seq} (line ${lineNo}): its inclusion proof does not lead to the checkpoint's root: the entry or its proof was changed`);
      else if (opened.header.kind === 'receipt' && !value.leaf.includes(`"requestId":${JSON.stringify(opened.header.requestId)}`) && !WATCHED.has(kind)) {
        checker.report(seq, `entry ${seq} (line ${lineNo}) belongs to another request than the receipt's ${opened.header.requestId}`);
      } else {
        proven++;
        if (WATCHED.has(kind)) remember(value.leaf, kind);
      }
    } else checker.report(checker.size + 1, `line ${lineNo}: not an entry, checkpoint or proof line`);
  };
  const finish = async (): Promise<ExportResult> => {
    if (!opened || !checker) throw new KernelError('bad_request', 'the export is empty: expected a header line, then entries or proofs');
    const { header, key } = opened;
    if (header.kind === 'bundle' && checker.size < tree.size) checker.report(checker.size + 1, `entries ${checker.size + 1}..${tree.size} are missing: the export's checkpoint covers ${tree.size} (truncated)`);
    const unchecked: { seq: number; reason: string }[] = [];
    let checked = 0;
    for (const approval of approvals) {
      const problem = await checkApproval(approval, seen, options.verifyEvidence);
      if (problem === null) checked++;
      else if (problem.unchecked) unchecked.push({ seq: approval.seq, reason: problem.unchecked });
      else checker.report(approval.seq, `approval at entry ${approval.seq}: ${problem.bad}`);
    }
    const result = checker.finish();
    // A receipt re-builds no tree: what it proves is inclusion in the tree its checkpoint signed.
    if (header.kind === 'receipt') Object.assign(result, { size: tree.size, root: tree.root.toString('hex'), checkpoint: { size: tree.size, at: null } });
    return { ...result, kind: header.kind, requestId: header.requestId, key, proven, approvals: { checked, unchecked } };
  };
  return { line, finish };
}

/** An approval holds when its key's enrollment names the same approver and its evidence verifies over the request. */
async function checkApproval(approval: Parsed, seen: Seen, verifyEvidence?: EvidenceVerifier): Promise<{ bad: string; unchecked?: never } | { unchecked: string; bad?: never } | null> {
  const data = approval.data;
  const line = seen.requests.get(JSON.stringify(approval.requestId));
  const received = line === undefined ? undefined : (JSON.parse(line) as Parsed);
  const enrolled = seen.keys.get(String(data.keyId));
  if (!received) return { unchecked: `the request ${approval.requestId} as received is not in this export (export from an earlier --since)` };
  if (!enrolled) return { unchecked: `the enrollment of key ${String(data.keyId)} is not in this export` };
  const approverId = approval.actor.replace(/^approver:/, '');
  if (enrolled.data.approverId !== approverId) return { bad: `signed with key ${String(data.keyId)}, enrolled by approver ${String(enrolled.data.approverId)}, not by ${approverId}` };
  if (typeof enrolled.data.email === 'string' && enrolled.data.email !== data.approver) return { bad: `names approver ${String(data.approver)}, but key ${String(data.keyId)} was enrolled for ${enrolled.data.email}` };
  let digest: string;
  try {
    digest = requestDigest((received.data as { body?: unknown }).body as RequestBody);
  } catch {
    return { bad: `the request ${approval.requestId} as received has no well-formed body` };
  }
  if (data.digest !== digest) return { bad: `names digest ${String(data.digest)}, but the request as received has digest ${digest}` };
  if (!verifyEvidence) return null;
  const key = enrolled.kind === 'passkey.enrolled' ? String(enrolled.data.publicKey) : { kty: 'OKP', crv: 'Ed25519', x: String(enrolled.data.x) };
  const problem = await verifyEvidence(data.receipt as JsonObject, key, digest).catch((error: unknown) => `evidence check failed: ${(error as Error).message}`);
  return problem === null ? null : { bad: `its evidence does not verify: ${problem}` };
}
