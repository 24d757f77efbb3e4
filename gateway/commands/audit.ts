import { createWriteStream, readFileSync, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import {
  KernelError,
  consistencyProof,
  firstSeqSince,
  latestCheckpoint,
  openWithAny,
  overStoredTree,
  readCheckpoints,
  verifyConsistency,
  verifyStored,
  type AuditLog,
  type Db,
  type NoteSigner,
  type VerifyResult,
} from '../../kernel/index.ts';
import { exportBundle, exportReceipt } from '../audit/bundle.ts';
import { verifyExportFile, type EvidenceVerifier, type ExportResult } from '../audit/offline.ts';
import { readVerifierKeys } from '../audit/identity.ts';
import type { Witnesses } from '../audit/witness.ts';

/** What a CLI command returns: the gateway's CLI prints stdout and exits with exitCode. */
export interface CommandOutput {
  exitCode: number;
  stdout: string;
}

/** The parts of the running services the audit commands use. */
export interface AuditServices {
  database: { db: Db };
  audit: AuditLog;
  auditSigner: NoteSigner;
  witnesses: Witnesses;
}

async function keysOf(services: AuditServices): Promise<string[]> {
  return [...new Set([services.auditSigner.verifierKey, ...(await readVerifierKeys(services.database.db))])];
}

function describe(result: VerifyResult, what: string, problems: string[]): string {
  if (!result.ok && result.firstBad) {
    const checkpoint = result.checkpoint ? `, last matching checkpoint at size ${result.checkpoint.size}` : '';
    return `${what} FAILED at entry ${result.firstBad.seq}: ${result.firstBad.reason}\n(${result.entries} entries re-hashed${checkpoint})\n${problems.map((p) => `also: ${p}\n`).join('')}`;
  }
  if (problems.length > 0) return `${what} FAILED: ${problems.join('\n')}\n`;
  const checkpoint = result.checkpoint ? `matches the checkpoint signed at size ${result.checkpoint.size}${result.checkpoint.at ? ` (${result.checkpoint.at})` : ''}` : 'no checkpoint signed yet';
  return `verified ${result.entries} entries: tree size ${result.size}, root ${result.root}, ${checkpoint}\n`;
}

/** Why the log is not an append-only extension of the checkpoint in `path`, as a list (empty when it is). */
async function againstCheckpoint(db: Db, keys: string[], note: string, path: string): Promise<string[]> {
  const held = openWithAny(note, keys);
  if ('error' in held) return [`${path}: ${held.error}`];
  const problems: string[] = [];
  const [stored] = await readCheckpoints(db, held.size, held.size);
  if (!stored || stored.root !== held.root.toString('hex')) {
    problems.push(`the checkpoint of size ${held.size} in ${path} is ${stored ? 'different' : 'missing'} in the database (audit_tree_heads was edited or the database restored from an older backup)`);
  }
  const latest = await latestCheckpoint(db);
  const newest = latest ? openWithAny(latest.note, keys) : null;
  if (!newest || 'error' in newest) return [...problems, `the database's latest checkpoint does not verify${newest ? `: ${newest.error}` : ' (there is none)'}`];
  if (newest.size < held.size) return [...problems, `the log's latest checkpoint covers ${newest.size} entries, fewer than the ${held.size} in ${path}: entries were removed or the database rolled back`];
  const proof = await overStoredTree(db, (node) => consistencyProof(held.size, newest.size, node)).catch(() => null);
  if (!proof || !verifyConsistency(held.size, newest.size, held.root, newest.root, proof)) {
    problems.push(`no consistency proof leads from ${path} (size ${held.size}) to the latest checkpoint (size ${newest.size}): the log forked or was rewritten`);
  }
  return problems;
}

/**
 * `countersign audit verify [--checkpoint FILE]`: re-builds the tree from every stored entry, checks every stored
 * checkpoint, the witness files in config and FILE, and proves the log extends FILE's checkpoint.
 */
export async function auditVerify(services: AuditServices, options: { json?: boolean; checkpoint?: string } = {}): Promise<CommandOutput> {
  const db = services.database.db;
  let note: string | null = null;
  if (options.checkpoint) {
    try {
      note = readFileSync(options.checkpoint, 'utf8');
    } catch (error) {
      return { exitCode: 2, stdout: `cannot read the checkpoint ${options.checkpoint}: ${(error as Error).message}\n` };
    }
  }
  await services.audit.sync();
  const keys = await keysOf(services);
  const result = await verifyStored(db, keys, note ? [note] : []);
  const problems = [...(await services.witnesses.check()), ...(note ? await againstCheckpoint(db, keys, note, options.checkpoint!) : [])];
  const ok = result.ok && problems.length === 0;
  const stdout = options.json ? `${JSON.stringify({ ...result, ok, problems })}\n` : describe(result, 'audit verify', problems);
  return { exitCode: ok ? 0 : 1, stdout };
}

/** `countersign audit head`: the latest signed checkpoint, as the note itself or as JSON. */
export async function auditHead(services: AuditServices, options: { json?: boolean } = {}): Promise<CommandOutput> {
  const head = await services.audit.sync();
  if (!head) return { exitCode: 1, stdout: options.json ? '{"size":0,"checkpoint":null}\n' : 'the audit log is empty: no checkpoint yet\n' };
  if (!options.json) return { exitCode: 0, stdout: head.note };
  return { exitCode: 0, stdout: `${JSON.stringify({ size: head.size, root: head.root, at: head.at, checkpoint: head.note, verifierKey: services.auditSigner.verifierKey })}\n` };
}

/** Turns `--since` (an entry seq, or an ISO time) into the first seq to export. */
async function resolveSince(db: Db, since: string | number | undefined): Promise<number | { error: string }> {
  if (since === undefined || since === '') return 1;
  if (typeof since === 'number' || /^\d+$/.test(since)) {
    const seq = Number(since);
    return Number.isSafeInteger(seq) && seq >= 1 ? seq : { error: `--since ${since}: an entry seq starts at 1` };
  }
  const time = Date.parse(since);
  if (Number.isNaN(time)) return { error: `--since "${since}" is neither an entry seq nor a time; use e.g. --since 1000 or --since 2025-06-01T00:00:00Z` };
  return (await firstSeqSince(db, new Date(time).toISOString())) ?? Number.MAX_SAFE_INTEGER;
}

/** Writes lines to `out` atomically (via a temporary file), or returns them as stdout when `out` is absent or "-". */
async function writeLines(lines: AsyncIterable<string>, out: string | undefined): Promise<{ stdout?: string; lines: number }> {
  if (!out || out === '-') {
    const all: string[] = [];
    for await (const line of lines) all.push(line);
    return { stdout: `${all.join('\n')}\n`, lines: all.length };
  }
  const temporary = `${out}.partial`;
  const file = createWriteStream(temporary, { flags: 'w', mode: 0o644 });
  let count = 0;
  try {
    await once(file, 'open');
    for await (const line of lines) {
      count++;
      if (!file.write(`${line}\n`)) await once(file, 'drain');
    }
    file.end();
    await once(file, 'finish');
    renameSync(temporary, out);
    return { lines: count };
  } catch (error) {
    file.destroy();
    rmSync(temporary, { force: true });
    throw error instanceof KernelError ? error : new KernelError('bad_request', `cannot write ${out}: ${(error as Error).message}`);
  }
}

const sourceOf = async (services: AuditServices) => ({ db: services.database.db, signer: services.auditSigner, verifierKeys: await keysOf(services) });

/** `countersign audit export [--since SEQ|TIME] [--out FILE]`: a bundle that verifies with no database. */
export async function auditExport(services: AuditServices, options: { since?: string | number; out?: string; json?: boolean } = {}): Promise<CommandOutput> {
  const since = await resolveSince(services.database.db, options.since);
  if (typeof since !== 'number') return { exitCode: 2, stdout: `${since.error}\n` };
  await services.audit.sync();
  try {
    const written = await writeLines(exportBundle(await sourceOf(services), { since }), options.out);
    if (written.stdout !== undefined) return { exitCode: 0, stdout: written.stdout };
    const summary = { out: options.out, since, lines: written.lines };
    return { exitCode: 0, stdout: options.json ? `${JSON.stringify(summary)}\n` : `exported ${written.lines} lines from seq ${since} to ${options.out}\nverify it anywhere with: countersign audit verify --offline ${options.out}\n` };
  } catch (error) {
    return { exitCode: 1, stdout: `${(error as Error).message}\n` };
  }
}

/** `countersign audit receipt REQUEST_ID [--out FILE]`: the request's entries with inclusion proofs and a checkpoint. */
export async function auditReceipt(services: AuditServices, requestId: string, options: { out?: string; json?: boolean } = {}): Promise<CommandOutput> {
  await services.audit.sync();
  try {
    const written = await writeLines(exportReceipt(await sourceOf(services), requestId), options.out);
    if (written.stdout !== undefined) return { exitCode: 0, stdout: written.stdout };
    const summary = { out: options.out, requestId, lines: written.lines };
    return { exitCode: 0, stdout: options.json ? `${JSON.stringify(summary)}\n` : `wrote the receipt of ${requestId} to ${options.out}\nverify it anywhere with: countersign audit verify --offline ${options.out}\n` };
  } catch (error) {
    const code = error instanceof KernelError && error.code === 'unknown_request' ? 2 : 1;
    return { exitCode: code, stdout: `${(error as Error).message}\n` };
  }
}

/**
 * `countersign audit verify --offline FILE [--key VKEY]`: re-checks a bundle or receipt with no database. Without
 * `--key`, the keys named in the file are used and printed, to be compared with the kernel key the auditor trusts.
 */
export async function auditVerifyOffline(path: string, options: { json?: boolean; key?: string; verifyEvidence?: EvidenceVerifier } = {}): Promise<CommandOutput> {
  let result: ExportResult;
  try {
    result = await verifyExportFile(path, { key: options.key, verifyEvidence: options.verifyEvidence });
  } catch (error) {
    const message = error instanceof KernelError ? error.message : `cannot read ${path}: ${(error as Error).message}`;
    return { exitCode: 1, stdout: options.json ? `${JSON.stringify({ ok: false, error: message })}\n` : `offline verify FAILED: ${message}\n` };
  }
  if (options.json) return { exitCode: result.ok ? 0 : 1, stdout: `${JSON.stringify(result)}\n` };
  const what = result.kind === 'receipt' ? `receipt of ${result.requestId}` : 'bundle';
  let stdout = describe(result, `offline verify (${what})`, []);
  if (result.ok) {
    if (result.kind === 'receipt') stdout = `verified the ${what}: ${result.proven} entries proven in the tree of size ${result.size}\n`;
    stdout += `${result.approvals.checked} approvals checked against their keys' enrollment${options.verifyEvidence ? ' and evidence' : ''}\n`;
    for (const u of result.approvals.unchecked) stdout += `not checked: approval at entry ${u.seq}: ${u.reason}\n`;
    stdout += options.key ? 'signed by the key you gave\n' : `signed by ${result.key}: compare it with your kernel's key (countersign audit head --json)\n`;
  }
  return { exitCode: result.ok ? 0 : 1, stdout };
}
