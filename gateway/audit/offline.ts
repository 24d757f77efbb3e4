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

const SEQ_AT_END = /,"seq":(\d+)\}$/;
const WATCHED = /"kind":"(approval\.decided|request\.received|passkey\.enrolled|device\.paired)"/;

/**
 * Verifies a bundle or receipt with no database: the header's signature, every checkpoint, every entry against the
 * tree (consecutive entries rebuild it; others carry inclusion proofs), and every approval against the enrollment
 * of the key that signed it and the request as received. Throws `bad_request` if the input is not an export.
 */
export async function verifyExport(lines: AsyncIterable<string> | Iterable<string>, options: { key?: string; verifyEvidence?: EvidenceVerifier } = {}): Promise<ExportResult> {
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
  const remember = (text: string) => {
    // JCS orders an entry's keys actor, at, data, kind, requestId, seq: the last "kind" is the entry's own, whatever
    // its data holds, and its requestId (a JSON string or null) runs from there to seq.
    const kind = text.slice(text.lastIndexOf(',"kind":"') + 9, text.lastIndexOf('","requestId":'));
    if (kind === 'request.received') return void seen.requests.set(text.slice(text.lastIndexOf(',"requestId":') + 13, text.lastIndexOf(',"seq":')), text);
    const e = JSON.parse(text) as Parsed;
    if (e.kind === 'approval.decided') approvals.push(e);
    else if (e.kind === 'passkey.enrolled' || e.kind === 'device.paired') seen.keys.set(String(e.data.credentialId ?? e.data.deviceId), e);
  };
  for await (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (!opened || !checker) {
      opened = openHeader(line, options.key);
      const { header, key } = opened;
      const frontier = header.frontier.map((h) => Buffer.from(String(h), 'hex'));
      checker = new TreeChecker([key], { size: Math.max(header.since - 1, 0), hashes: frontier });
      const head = header.checkpoint ? openWithAny(header.checkpoint, [key]) : { size: 0, root: Buffer.alloc(32) };
      if ('error' in head) throw new KernelError('audit_broken', `the export's checkpoint: ${head.error}`);
      tree = head;
      if (header.kind === 'bundle' && header.checkpoint) checker.checkpoint(header.checkpoint);
      continue;
    }
    if (line === '') continue;
    if (line.startsWith('{"actor":')) {
      const seq = Number(SEQ_AT_END.exec(line)?.[1] ?? NaN);
      if (!intact) continue;
      if (!Number.isSafeInteger(seq)) {
        checker.report(checker.size + 1, `line ${lineNo}: not an audit entry`);
        intact = false;
        continue;
      }
      if (seq > tree.size) checker.report(seq, `entry ${seq} lies beyond the export's checkpoint (${tree.size} entries): it is not covered by any signature`);
      intact = checker.leaf(seq, hashLeaf(line));
      if (intact && WATCHED.test(line)) remember(line);
      continue;
    }
    type Line = { type?: string; note?: unknown; leaf?: unknown; path?: unknown };
    let value: Line | null = null;
    try {
      value = JSON.parse(line) as Line;
    } catch {
      value = null;
    }
    if (value?.type === 'checkpoint' && typeof value.note === 'string') checker.checkpoint(value.note);
    else if (value?.type === 'proof' && typeof value.leaf === 'string' && Array.isArray(value.path)) {
      const seq = Number(SEQ_AT_END.exec(value.leaf)?.[1] ?? 0);
      const path = (value.path as unknown[]).map((p) => Buffer.from(String(p), 'hex'));
      if (!verifyInclusion(seq - 1, tree.size, hashLeaf(value.leaf), path, tree.root)) checker.report(seq, `entry ${seq} (line ${lineNo}): its inclusion proof does not lead to the checkpoint's root: the entry or its proof was changed`);
      else if (opened.header.kind === 'receipt' && !value.leaf.includes(`"requestId":${JSON.stringify(opened.header.requestId)}`) && !WATCHED.test(value.leaf)) {
        checker.report(seq, `entry ${seq} (line ${lineNo}) belongs to another request than the receipt's ${opened.header.requestId}`);
      } else {
        proven++;
        if (WATCHED.test(value.leaf)) remember(value.leaf);
      }
    } else checker.report(checker.size + 1, `line ${lineNo}: not an entry, checkpoint or proof line`);
  }
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
