import { asc, eq } from 'drizzle-orm';
import {
  ChainChecker,
  KernelError,
  readCheckpoints,
  readEntries,
  requestDigest,
  schema,
  type AuditCheckpoint,
  type AuditEntry,
  type Db,
  type Json,
  type JsonObject,
  type RequestBody,
  type VerifyResult,
} from '../../kernel/index.ts';

const { approvers, devices, kernelMeta, passkeys } = schema;

export const BUNDLE_FORMAT = 'countersign-audit-bundle/v1';

/** The first line of a bundle: everything an auditor needs to re-check it with no access to the server. */
export interface BundleHeader {
  format: typeof BUNDLE_FORMAT;
  createdAt: string;
  /** First seq in the bundle (1 for a whole chain); a later start is trusted, not proven, to follow seq - 1. */
  since: number;
  kernelKeys: JsonObject[];
  passkeys: { id: string; approverId: string; email: string; publicKey: string }[];
  devices: { id: string; approverId: string; publicJwk: JsonObject }[];
}

/**
 * Checks one approval receipt. `recomputedDigest` is the digest computed again from the `request.received` entry's body
 * earlier in the bundle (null when that entry lies before the exported range), so a receipt is checked against the
 * request as recorded, not against the digest it names itself.
 */
export type ReceiptVerifier = (data: Json, header: BundleHeader, recomputedDigest: string | null) => Promise<string | null>;

export interface BundleResult extends VerifyResult {
  checkpoints: number;
  receipts: number;
  header: Pick<BundleHeader, 'createdAt' | 'since'> & { kernelKeys: number };
}

/** The kernel's public checkpoint keys, as the kernel stores them in kernel_meta 'kernel.publicKeys'. */
export async function readKernelPublicKeys(db: Db): Promise<JsonObject[]> {
  const [row] = await db.select().from(kernelMeta).where(eq(kernelMeta.key, 'kernel.publicKeys'));
  if (!row) return [];
  if (!Array.isArray(row.value)) throw new KernelError('audit_broken', "kernel_meta 'kernel.publicKeys' is not an array of public JWKs");
  return row.value as JsonObject[];
}

/**
 * Exports the chain (from `since`) as a self-contained JSON-lines bundle: a header, then entries, then checkpoints.
 * Yields lines without their trailing newline.
 */
export async function* exportBundle(db: Db, options: { since?: number } = {}): AsyncGenerator<string> {
  const since = options.since ?? 1;
  if (!Number.isInteger(since) || since < 1) throw new KernelError('bad_request', `since must be a positive entry seq, got ${since}`);
  const checkpoints = await readCheckpoints(db, since);
  const keyRows = await db
    .select({ id: passkeys.id, approverId: passkeys.approverId, email: approvers.email, publicKey: passkeys.publicKey })
    .from(passkeys)
    .innerJoin(approvers, eq(approvers.id, passkeys.approverId))
    .orderBy(asc(passkeys.id));
  const deviceRows = await db.select({ id: devices.id, approverId: devices.approverId, publicJwk: devices.publicJwk }).from(devices).orderBy(asc(devices.id));
  const header: BundleHeader = {
    format: BUNDLE_FORMAT,
    createdAt: new Date().toISOString(),
    since,
    kernelKeys: await readKernelPublicKeys(db),
    passkeys: keyRows,
    devices: deviceRows.map((d) => ({ ...d, publicJwk: d.publicJwk as JsonObject })),
  };
  yield JSON.stringify(header);
  // Checkpoints were read first: any checkpoint listed covers entries already committed, so none looks truncated.
  for await (const entry of readEntries(db, { since })) yield JSON.stringify({ type: 'entry', ...entry });
  for (const checkpoint of checkpoints) yield JSON.stringify({ type: 'checkpoint', ...checkpoint });
}

const HEX64 = /^[0-9a-f]{64}$/;

function asEntry(value: Record<string, unknown>): AuditEntry | string {
  const { seq, at, kind, requestId, actor, data, prevHash, hash } = value;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return 'seq is not a positive integer';
  if (typeof at !== 'string' || typeof kind !== 'string' || typeof actor !== 'string') return 'at, kind and actor must be strings';
  if (requestId !== null && typeof requestId !== 'string') return 'requestId must be a string or null';
  if (data === undefined) return 'data is missing';
  if (typeof prevHash !== 'string' || !HEX64.test(prevHash) || typeof hash !== 'string' || !HEX64.test(hash)) return 'prevHash and hash must be 64 hex digits';
  return { seq: seq as number, at, kind, requestId, actor, data: data as Json, prevHash, hash };
}

function asCheckpoint(value: Record<string, unknown>): AuditCheckpoint | string {
  const { seq, hash, at, signature } = value;
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return 'seq is not a positive integer';
  if (typeof hash !== 'string' || typeof at !== 'string' || typeof signature !== 'string') return 'hash, at and signature must be strings';
  return { seq: seq as number, hash, at, signature };
}

function parseHeader(line: string | undefined): BundleHeader {
  let header: Partial<BundleHeader> | null = null;
  try {
    header = line === undefined ? null : (JSON.parse(line) as Partial<BundleHeader>);
  } catch {
    // reported below
  }
  if (!header || header.format !== BUNDLE_FORMAT) {
    throw new KernelError('bad_request', `not a Countersign audit bundle: the first line must be a header with format "${BUNDLE_FORMAT}"`);
  }
  if (!Array.isArray(header.kernelKeys) || !Array.isArray(header.passkeys) || !Array.isArray(header.devices)) {
    throw new KernelError('bad_request', 'bundle header must list kernelKeys, passkeys and devices (arrays)');
  }
  return { ...header, since: Number.isSafeInteger(header.since) && (header.since as number) >= 1 ? (header.since as number) : 1 } as BundleHeader;
}

/**
 * Re-checks a bundle offline: chain, checkpoints (against `kernelKeys` when given, else the header's keys), and, with
 * `verifyReceipt`, the evidence of every `approval.decided` entry. Throws `bad_request` if the input is not a bundle.
 */
export async function verifyBundle(
  lines: AsyncIterable<string> | Iterable<string>,
  options: { verifyReceipt?: ReceiptVerifier; kernelKeys?: JsonObject[] } = {},
): Promise<BundleResult> {
  let header: BundleHeader | null = null;
  let checker: ChainChecker | null = null;
  let lineNo = 0;
  let chainIntact = true;
  let nextSeq = 1;
  const checkpoints: AuditCheckpoint[] = [];
  let receipts = 0;
  const digests = new Map<string, string>();
  for await (const raw of lines) {
    lineNo++;
    const line = raw.trim();
    if (!header) {
      header = parseHeader(line);
      nextSeq = header.since;
      checker = new ChainChecker(options.kernelKeys ?? header.kernelKeys, { start: { seq: header.since }, keepHashes: true });
      continue;
    }
    if (line === '') continue;
    let value: Record<string, unknown> | null = null;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      // reported below
    }
    const isCheckpoint = value?.type === 'checkpoint';
    // Once the chain broke, later entries prove nothing, but earlier checkpoints may still fail at a lower seq.
    if (!chainIntact && !isCheckpoint) continue;
    const parsed = value?.type === 'entry' ? asEntry(value) : isCheckpoint ? asCheckpoint(value!) : 'not an entry or checkpoint line';
    if (typeof parsed === 'string') {
      const seq = isCheckpoint && Number.isSafeInteger(value?.seq) && (value!.seq as number) >= 1 ? (value!.seq as number) : nextSeq;
      checker!.report(seq, `line ${lineNo}: ${parsed}`);
      if (!isCheckpoint) chainIntact = false;
    } else if (isCheckpoint) {
      checkpoints.push(parsed as AuditCheckpoint);
    } else {
      const entry = parsed as AuditEntry;
      chainIntact = checker!.entry(entry);
      nextSeq = entry.seq + 1;
      if (chainIntact && options.verifyReceipt && entry.kind === 'request.received' && entry.requestId) {
        digests.set(entry.requestId, recomputeDigest(entry.data));
      }
      if (chainIntact && entry.kind === 'approval.decided' && options.verifyReceipt) {
        receipts++;
        const recomputed = entry.requestId ? digests.get(entry.requestId) ?? null : null;
        const problem = await options.verifyReceipt(entry.data, header, recomputed).catch((error: unknown) => `receipt check failed: ${(error as Error).message}`);
        if (problem !== null) checker!.report(entry.seq, `approval receipt does not verify: ${problem}`);
      }
    }
  }
  if (!header || !checker) throw new KernelError('bad_request', 'the bundle is empty: expected a header line, entries and checkpoints');
  await checker.addCheckpoints(checkpoints);
  return {
    ...checker.finish(),
    checkpoints: checkpoints.length,
    receipts,
    header: { createdAt: header.createdAt, since: header.since, kernelKeys: header.kernelKeys.length },
  };
}

/** The digest of a recorded request body; "unparseable" never matches a receipt, so tampering shows up there. */
function recomputeDigest(data: Json): string {
  try {
    const body = (data as JsonObject).body as unknown as RequestBody;
    return requestDigest(body);
  } catch {
    return 'unparseable request body';
  }
}
