import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { startGithubSandbox, type GithubSandbox } from '../../tools/github/sandbox/index.ts';
import { startStripeSandbox, type StripeSandbox } from '../../tools/stripe/sandbox/index.ts';
import { cliFor, type Cli } from '../../test/support/remote-approver.ts';
import { startServerProcess, type ServerProcess } from '../../test/support/server-process.ts';
import { startUpstreamTap, type UpstreamTap } from '../../test/support/upstream-tap.ts';
import { freePort } from '../../test/support/harness.ts';

/**
 * The system under load: N `countersign start` processes on one fresh PostgreSQL database, sharing the kernel key as
 * README's replica section says (the first replica's COUNTERSIGN_HOME/keys/ copied to the others before they start),
 * against the GitHub and Stripe sandboxes in this process behind upstream taps that count every write they accept.
 */

export const LOAD_POLICY = `
holdSeconds: 25
rateLimit: { perMinute: 1000000 }
connectors:
  github: { token: env:GITHUB_TOKEN, baseUrl: GITHUB_URL }
  stripe: { secretKey: env:STRIPE_SECRET_KEY, baseUrl: STRIPE_URL }
policy:
  default: approve
  rules:
    - id: reads
      tools: [github_get_*, github_list_*, stripe_get_*, stripe_list_*]
      decision: allow
    - id: no-branch-deletes
      tools: [github_delete_branch]
      decision: deny
      reason: agents may not delete branches
    - id: issues
      tools: [github_create_issue]
      decision: allow
    - id: comments
      tools: [github_create_issue_comment]
      decision: approve
      reason: comments speak for the team
`;

export interface Cluster {
  db: postgres.Sql;
  databaseUrl: string;
  replicas: ServerProcess[];
  taps: { github: UpstreamTap; stripe: UpstreamTap };
  /** `countersign ARGS --json` against the first replica, over its admin socket. */
  cli: Cli;
  publicUrl: string;
  homes: string[];
  close(): Promise<void>;
}

export async function startCluster(options: { replicas: number; baseUrl: string; log?: (m: string) => void }): Promise<Cluster> {
  const log = options.log ?? (() => {});
  const name = `cs_load_${randomBytes(5).toString('hex')}`;
  const root = postgres(options.baseUrl, { max: 1, onnotice: () => {} });
  await root.unsafe(`create database ${name}`);
  await root.end();
  const target = new URL(options.baseUrl);
  target.pathname = `/${name}`;
  const databaseUrl = target.toString();
  const db = postgres(databaseUrl, { max: 2, onnotice: () => {} });
  const github = await startGithubSandbox();
  const stripe = await startStripeSandbox();
  const taps = { github: await startUpstreamTap(github.url), stripe: await startUpstreamTap(stripe.url) };
  const homes: string[] = [];
  const ports: number[] = [];
  for (let i = 0; i < options.replicas; i++) {
    homes.push(mkdtempSync(join(tmpdir(), `countersign-load-${i}-`)));
    ports.push(await freePort());
  }
  const publicUrl = `http://localhost:${ports[0]}`;
  const env = { GITHUB_TOKEN: 'ghp_load', STRIPE_SECRET_KEY: 'sk_test_load', DATABASE_URL: databaseUrl, COUNTERSIGN_PUBLIC_URL: publicUrl };
  const config = LOAD_POLICY.replace('GITHUB_URL', taps.github.url).replace('STRIPE_URL', taps.stripe.url);
  const replicas: ServerProcess[] = [];
  for (const [i, home] of homes.entries()) {
    writeFileSync(join(home, 'countersign.yaml'), config);
    if (i > 0) {
      mkdirSync(join(home, 'keys'), { recursive: true, mode: 0o700 });
      cpSync(join(homes[0]!, 'keys'), join(home, 'keys'), { recursive: true });
    }
    replicas.push(await startServerProcess({ home, port: ports[i], env, startSeconds: 300 }));
    log(`replica ${i} listening at ${replicas[i]!.url} (pid ${replicas[i]!.pid})`);
  }
  const cli = cliFor(homes[0]!, { ...process.env, ...env, COUNTERSIGN_HOME: homes[0]!, COUNTERSIGN_CONFIG: join(homes[0]!, 'countersign.yaml') });
  return {
    db, databaseUrl, replicas, taps, cli, publicUrl, homes,
    async close() {
      for (const r of replicas) await r.close();
      for (const home of homes) rmSync(home, { recursive: true, force: true });
      await taps.github.close();
      await taps.stripe.close();
      await github.close();
      await stripe.close();
      await db.end();
      const cleanup = postgres(options.baseUrl, { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
      await cleanup.end();
    },
  };
}
