import { closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { KernelError } from '../kernel/index.ts';
import { coalesced } from './coalesce.ts';

/**
 * An executor's own record of the grants it has used: one line per grant id, written and flushed to disk before the
 * upstream call. The kernel consumes grants too, atomically in its database; this journal is the executor's second
 * word, so that neither a compromised edge, nor a replayed message, nor a database restored from an older backup can
 * make it act twice on one grant, including after its own restart. Expired grants are dropped when it is reopened
 * (no expired grant verifies anyway), so the file stays small.
 *
 * Every line is written before the upstream call, so it survives the executor's own death (the operating system
 * holds it). A write's line is also flushed to disk before it runs (`durable`), so not even a power cut lets a
 * replayed grant act twice upstream; lines written while a flush runs share the next one (group commit), off the
 * main thread. A read's line is not flushed: a read changes nothing upstream, and the kernel itself keeps a read's
 * grant in memory only (kernel/flow.ts, readNow). One fsync per read blocked this process for every read: 17% of
 * its CPU in the MCP bench at 32 clients (2026-11-29, bench/NOTES.md, "Eighth pass").
 */
export interface GrantJournal {
  /**
   * Records `jti` as used; refuses with grant_consumed when this executor used it before. Resolves once the line is
   * written, and for `durable` once it is on disk; a failed flush refuses the call (the grant stays used).
   */
  use(jti: string, expiresAt: Date, durable: boolean): Promise<void>;
  close(): void;
}

export function openGrantJournal(path: string): GrantJournal {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const used = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const now = Date.now();
  for (const line of text.split('\n')) {
    const [jti, exp] = line.split(' ');
    // A torn last line (a crash mid-write) was never flushed, so its call never started: skipping it is safe.
    if (jti && Number(exp) > now) used.set(jti, Number(exp));
  }
  // Rewritten without the expired entries beside it, then renamed over it: dying mid-rewrite leaves the old journal
  // whole, never an emptied one. Appended to from here on.
  const fresh = `${path}.tmp`;
  const tmp = openSync(fresh, 'w', 0o600);
  try {
    writeSync(tmp, [...used].map(([jti, exp]) => `${jti} ${exp}\n`).join(''));
    fsyncSync(tmp);
  } finally {
    closeSync(tmp);
  }
  renameSync(fresh, path);
  // The rename itself made durable, or a power cut could bring back the old file without what is appended below.
  const directory = openSync(dirname(path), 'r');
  fsyncSync(directory);
  closeSync(directory);
  const fd = openSync(path, 'a', 0o600);
  // One fdatasync for every line written before it began; lines written while it runs wait for the next one.
  const flushed = coalesced(
    () =>
      new Promise<void>((resolve, reject) =>
        fdatasync(fd, (error) => (error ? reject(new KernelError('internal', `the executor could not flush its grant journal ${path} to disk (${error.code ?? error.message}); nothing was executed`)) : resolve())),
      ),
  );
  return {
    async use(jti, expiresAt, durable) {
      if (!/^[\w-]{1,128}$/.test(jti)) throw new KernelError('grant_invalid', 'the grant id is not well formed; nothing was executed');
      if (used.has(jti)) throw new KernelError('grant_consumed', 'this executor has already acted on this grant; a grant is used once, so nothing was executed');
      used.set(jti, expiresAt.getTime());
      writeSync(fd, `${jti} ${expiresAt.getTime()}\n`);
      if (durable) await flushed();
    },
    close: () => closeSync(fd),
  };
}
