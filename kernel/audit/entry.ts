import type { Json } from '../types.ts';
import { jcs } from '../digest.ts';
import { hashLeaf } from './merkle.ts';
import { KernelError } from '../errors.ts';

/** What a caller appends; the log stamps `at` when it is queued, `seq` and `hash` when the sequencer integrates it. */
export interface AuditInput {
  /** What happened, dotted: 'request.received', 'policy.decided', 'grant.minted'... */
  kind: string;
  requestId?: string | null;
  /** Who: 'agent:<id>', 'approver:<id>', 'kernel', 'connector.github'... */
  actor: string;
  data?: Json;
}

/** One leaf of the tree, as stored: `seq` is its position plus one, `hash` its leaf hash (hex). */
export interface AuditEntry {
  seq: number;
  at: string;
  kind: string;
  requestId: string | null;
  actor: string;
  data: Json;
  hash: string;
}

/** An entry as the sequencer integrated it, its data still the JCS text it hashed (what `onCheckpoint` hears). */
export type IntegratedEntry = Omit<AuditEntry, 'data'> & { dataJcs: string };

/** An input checked, with its data canonicalized once (`dataJcs`), so a bad entry fails its own caller, not a batch. */
export interface PreparedInput {
  kind: string;
  requestId: string | null;
  actor: string;
  data: Json;
  dataJcs: string;
}

const KIND = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/;
// A NUL or an unpaired surrogate (which PostgreSQL text and jsonb cannot hold, nor RFC 8785) shows up in JSON as
// `\u0000` or `\ud800`..`\udfff` after an even number of backslashes (JSON.stringify escapes only unpaired ones).
const NUL = /(?:^|[^\\])(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/;
// The same, matching the escape alone (12x slower on clean text: used only once NUL has matched).
const NULS = /(?<=(?:^|[^\\])(?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

/** True when a JSON value holds a NUL or an unpaired surrogate anywhere, which the database cannot store. */
export const containsNul = (value: unknown): boolean => NUL.test(JSON.stringify(value) ?? '');
/** `value` with each NUL and unpaired surrogate replaced by U+FFFD (as a decoder replaces bytes it cannot read): storable. */
export const storable = <T>(value: T): T => (containsNul(value) ? (JSON.parse(JSON.stringify(value).replace(NULS, '\\ufffd')) as T) : value);

/** Checks one input and canonicalizes its data; throws `bad_request` naming what is wrong. */
export function prepareInput(input: AuditInput, index = 0): PreparedInput {
  const where = `audit entry #${index}`;
  if (typeof input !== 'object' || input === null) throw new KernelError('bad_request', `${where} must be an object {kind, actor, requestId?, data?}`);
  if (typeof input.kind !== 'string' || !KIND.test(input.kind) || input.kind.length > 100) throw new KernelError('bad_request', `${where}: kind ${JSON.stringify(input.kind)} must be dotted lowercase words like 'request.received'`);
  if (typeof input.actor !== 'string' || input.actor.length === 0 || input.actor.length > 300) throw new KernelError('bad_request', `${where}: actor must be a non-empty string like 'agent:<id>' or 'kernel'`);
  const requestId = input.requestId ?? null;
  if (requestId !== null && (typeof requestId !== 'string' || requestId.length === 0)) throw new KernelError('bad_request', `${where}: requestId must be a non-empty string or null`);
  const data = input.data === undefined ? {} : input.data;
  let dataJcs: string;
  try {
    dataJcs = jcs(data);
    // The database would replace lone surrogates, and the stored entry would then no longer match its hash.
    jcs([input.actor, requestId]);
  } catch (error) {
    throw new KernelError('bad_request', `${where}: not plain JSON (${(error as Error).message}); pass plain JSON values and well-formed strings`);
  }
  if (NUL.test(dataJcs) || input.kind.includes('\0') || input.actor.includes('\0') || requestId?.includes('\0')) throw new KernelError('bad_request', `${where}: contains a NUL character, which the database cannot store; escape or remove it`);
  return { kind: input.kind, requestId, actor: input.actor, data, dataJcs };
}

/** JCS({seq, at, kind, requestId, actor, data}) from parts, keys in RFC 8785 order; a unit test holds it equal to `jcs`. */
export function entryJcs(seq: number, at: string, kind: string, requestId: string | null, actor: string, dataJcs: string): string {
  const id = requestId === null ? 'null' : JSON.stringify(requestId);
  return `{"actor":${JSON.stringify(actor)},"at":${JSON.stringify(at)},"data":${dataJcs},"kind":${JSON.stringify(kind)},"requestId":${id},"seq":${seq}}`;
}

/** An entry's leaf hash: SHA-256(0x00 || JCS(entry without its hash)). */
export const leafHash = (e: Omit<AuditEntry, 'hash'>): Buffer => hashLeaf(entryJcs(e.seq, e.at, e.kind, e.requestId, e.actor, jcs(e.data)));
