import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { relative, resolve, isAbsolute } from 'node:path';
import {
  KernelError,
  consistencyProof,
  openCheckpoint,
  overStoredTree,
  verifyConsistency,
  type Checkpoint,
  type Db,
  type StoredCheckpoint,
} from '../../kernel/index.ts';
import { egressFetch } from '../../net/egress.ts';

/**
 * Witnesses keep the log's checkpoints outside its database: a file (on another disk, a mounted share, a synced
 * folder) and/or a URL each new checkpoint is POSTed to as text/plain. A file witness only moves forward: it takes a
 * new checkpoint only with a consistency proof from the one it holds, so a rolled-back or forked database cannot
 * overwrite the evidence against it. URLs follow the notifier's rules (net/egress.ts).
 */
export interface Witnesses {
  publish(checkpoint: StoredCheckpoint): void;
  /** Problems with the witness files against the log now (rollback, fork); empty when all agree. */
  check(): Promise<string[]>;
  close(): Promise<void>;
}

export type WitnessConfig = string | { url: string; allowPrivateNetwork?: boolean };

/** Checks witness entries from config: files must lie outside the data directory, whose loss they must survive. */
export function parseWitnesses(entries: readonly WitnessConfig[], home: string, base: string): { files: string[]; urls: { url: URL; allowPrivateNetwork: boolean }[] } {
  const files: string[] = [];
  const urls: { url: URL; allowPrivateNetwork: boolean }[] = [];
  for (const entry of entries) {
    const target = typeof entry === 'string' ? entry : entry.url;
    if (/^https?:\/\//.test(target)) {
      urls.push({ url: new URL(target), allowPrivateNetwork: typeof entry === 'object' && entry.allowPrivateNetwork === true });
      continue;
    }
    const path = resolve(base, target);
    const inside = relative(resolve(home), path);
    if (!inside.startsWith('..') && !isAbsolute(inside)) {
      throw new KernelError('config_error', `audit.witnesses: ${target} lies inside the data directory ${home}; a witness must survive its loss, so put it elsewhere`);
    }
    files.push(path);
  }
  return { files, urls };
}

function readWitnessed(path: string, verifierKey: string): Checkpoint | null | { error: string } {
  let note: string;
  try {
    note = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    return { error: `cannot read witness ${path}: ${(error as Error).message}` };
  }
  const opened = openCheckpoint(note, verifierKey);
  return 'error' in opened ? { error: `witness ${path}: ${opened.error}` } : opened;
}

/** Why `next` may not follow `held` (rollback or fork), or null when it extends it. */
async function disagreement(db: Db, held: Checkpoint, next: { size: number; root: Buffer }): Promise<string | null> {
  if (next.size < held.size) return `the log has ${next.size} entries but a checkpoint of ${held.size} was witnessed: entries were removed or the database rolled back`;
  const proof = await overStoredTree(db, (node) => consistencyProof(held.size, next.size, node)).catch(() => null);
  if (proof && verifyConsistency(held.size, next.size, held.root, next.root, proof)) return null;
  return `the log of ${next.size} entries does not extend the witnessed tree of ${held.size}: entries up to ${held.size} were rewritten (a fork)`;
}

export function createWitnesses(
  db: Db,
  config: { files: string[]; urls: { url: URL; allowPrivateNetwork: boolean }[] },
  options: { verifierKey: string; latest: () => Promise<StoredCheckpoint | null>; onError: (message: string) => void },
): Witnesses {
  let next: StoredCheckpoint | null = null;
  let running: Promise<void> | null = null;

  async function deliver(checkpoint: StoredCheckpoint): Promise<void> {
    const root = Buffer.from(checkpoint.root, 'hex');
    for (const path of config.files) {
      const held = readWitnessed(path, options.verifierKey);
      if (held && 'error' in held) options.onError(held.error);
      const problem = held && !('error' in held) ? await disagreement(db, held, { size: checkpoint.size, root }) : null;
      if (problem) options.onError(`witness ${path} kept its checkpoint: ${problem}`);
      else if (!held || !('error' in held)) {
        writeFileSync(`${path}.tmp`, checkpoint.note, { mode: 0o644 });
        renameSync(`${path}.tmp`, path);
      }
    }
    // Server-side requests to configured URLs go through net/egress: https and public addresses only (checked at
    // connect time), no redirects, unless this entry says allowPrivateNetwork.
    for (const { url, allowPrivateNetwork } of config.urls) {
      try {
        const post = egressFetch({ what: 'audit witness', allowPrivateNetwork });
        const response = await post(url, { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: checkpoint.note });
        if (!response.ok) options.onError(`witness ${url.origin}${url.pathname} answered ${response.status}`);
      } catch (error) {
        options.onError(`witness ${url.origin}${url.pathname}: ${(error as Error).message}`);
      }
    }
  }

  // At most one delivery in flight; checkpoints arriving meanwhile collapse into the newest.
  function pump(): void {
    if (running || !next) return;
    const checkpoint = next;
    next = null;
    running = deliver(checkpoint)
      .catch((error: unknown) => options.onError(`witness: ${(error as Error).message}`))
      .finally(() => {
        running = null;
        pump();
      });
  }

  return {
    publish(checkpoint) {
      if (config.files.length + config.urls.length === 0) return;
      if (!next || checkpoint.size > next.size) next = checkpoint;
      pump();
    },
    async check() {
      const latest = await options.latest();
      const problems: string[] = [];
      for (const path of config.files) {
        const held = readWitnessed(path, options.verifierKey);
        if (!held) continue;
        if ('error' in held) problems.push(held.error);
        else {
          const problem = await disagreement(db, held, latest ? { size: latest.size, root: Buffer.from(latest.root, 'hex') } : { size: 0, root: Buffer.alloc(32) });
          if (problem) problems.push(`witness ${path}: ${problem}`);
        }
      }
      return problems;
    },
    async close() {
      while (running) await running;
    },
  };
}
