import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { KernelError, firstSeqSince, verifyStored, type Db, type JsonObject, type VerifyResult } from '../../kernel/index.ts';
import { exportBundle, readKernelPublicKeys, verifyBundle, type BundleResult, type ReceiptVerifier } from '../audit/bundle.ts';

/** What a CLI command returns: the gateway's CLI prints stdout and exits with exitCode. */
export interface CommandOutput {
  exitCode: number;
  stdout: string;
}

/** The database itself, or the running services that hold it. */
export type AuditTarget = Db | { database: { db: Db } };

function dbOf(target: AuditTarget): Db {
  return 'database' in target && typeof (target as { database?: unknown }).database === 'object' ? (target as { database: { db: Db } }).database.db : (target as Db);
}

function describe(result: VerifyResult, what: string): string {
  if (!result.ok && result.firstBad) {
    const upTo = result.firstBad.seq > 1 ? `entries before ${result.firstBad.seq} verified` : 'no entry verified';
    const checkpoint = result.lastCheckpoint ? `, last good checkpoint at ${result.lastCheckpoint.seq}` : '';
    return `${what} FAILED at entry ${result.firstBad.seq}: ${result.firstBad.reason}\n(${upTo}${checkpoint})\n`;
  }
  const checkpoint = result.lastCheckpoint
    ? `checkpoint at ${result.lastCheckpoint.seq} signed by ${result.lastCheckpoint.kid}`
    : result.entries > 0
      ? 'no checkpoint yet (the tail after the last checkpoint is unsigned)'
      : 'no checkpoint yet';
  return `verified ${result.entries} entries, chain head ${result.head}, ${checkpoint}\n`;
}

/** `countersign audit verify`: re-checks the stored chain against every kernel key ever used. */
export async function auditVerify(target: AuditTarget, options: { json?: boolean } = {}): Promise<CommandOutput> {
  const db = dbOf(target);
  const keys = await readKernelPublicKeys(db);
  const result = await verifyStored(db, keys);
  const stdout = options.json ? `${JSON.stringify({ ...result, kernelKeys: keys.length })}\n` : describe(result, 'audit verify');
  return { exitCode: result.ok ? 0 : 1, stdout };
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

/**
 * `countersign audit export`: writes a self-contained JSON-lines bundle to `out` (atomically, via a temporary file),
 * or returns it as stdout when `out` is absent or "-".
 */
export async function auditExport(
  target: AuditTarget,
  options: { since?: string | number; out?: string; json?: boolean } = {},
): Promise<CommandOutput> {
  const db = dbOf(target);
  const since = await resolveSince(db, options.since);
  if (typeof since !== 'number') return { exitCode: 2, stdout: `${since.error}\n` };
  let entries = 0;
  let checkpoints = 0;
  const count = (line: string) => {
    if (line.startsWith('{"type":"entry"')) entries++;
    else if (line.startsWith('{"type":"checkpoint"')) checkpoints++;
  };
  if (!options.out || options.out === '-') {
    const lines: string[] = [];
    for await (const line of exportBundle(db, { since })) lines.push(line);
    return { exitCode: 0, stdout: `${lines.join('\n')}\n` };
  }
  const temporary = `${options.out}.partial`;
  const file = createWriteStream(temporary, { flags: 'w', mode: 0o644 });
  try {
    await once(file, 'open');
    for await (const line of exportBundle(db, { since })) {
      count(line);
      if (!file.write(`${line}\n`)) await once(file, 'drain');
    }
    file.end();
    await once(file, 'finish');
    renameSync(temporary, options.out);
  } catch (error) {
    file.destroy();
    rmSync(temporary, { force: true });
    const message = error instanceof KernelError ? error.message : `cannot write ${options.out}: ${(error as Error).message}`;
    return { exitCode: 1, stdout: `${message}\n` };
  }
  const summary = { out: options.out, since, entries, checkpoints };
  const stdout = options.json
    ? `${JSON.stringify(summary)}\n`
    : `exported ${entries} entries and ${checkpoints} checkpoints from seq ${since} to ${options.out}\nverify it anywhere with: countersign audit verify --offline ${options.out}\n`;
  return { exitCode: 0, stdout };
}

/**
 * `countersign audit verify --offline BUNDLE`: re-checks a bundle with no database. Checkpoint keys come from the
 * bundle unless `kernelKeys` is given; the summary names the signing kid so it can be compared with a trusted one.
 */
export async function auditVerifyOffline(
  bundlePath: string,
  options: { json?: boolean; verifyReceipt?: ReceiptVerifier; kernelKeys?: JsonObject[] } = {},
): Promise<CommandOutput> {
  let result: BundleResult;
  try {
    const stream = createReadStream(bundlePath, { encoding: 'utf8' });
    await once(stream, 'open');
    result = await verifyBundle(createInterface({ input: stream, crlfDelay: Infinity }), { verifyReceipt: options.verifyReceipt, kernelKeys: options.kernelKeys });
  } catch (error) {
    const message = error instanceof KernelError ? error.message : `cannot read the bundle ${bundlePath}: ${(error as Error).message}`;
    return { exitCode: 1, stdout: options.json ? `${JSON.stringify({ ok: false, error: message })}\n` : `${message}\n` };
  }
  if (options.json) return { exitCode: result.ok ? 0 : 1, stdout: `${JSON.stringify(result)}\n` };
  let stdout = describe(result, 'offline verify');
  if (result.ok) {
    const receipts = options.verifyReceipt ? `${result.receipts} approval receipts re-verified` : 'approval receipts not checked';
    const keys = options.kernelKeys ? 'checkpoint keys given by you' : 'checkpoint keys taken from the bundle: compare the kid above with your kernel key';
    stdout += `${receipts}; ${keys}\n`;
  }
  return { exitCode: result.ok ? 0 : 1, stdout };
}
