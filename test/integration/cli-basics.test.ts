import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { sql } from 'drizzle-orm';
import { BIN, run } from '../support/cli-process.ts';
import { openDatabase } from '../../gateway/db.ts';

/**
 * The CLI as a newcomer meets it, each command a separate process in an empty directory: --help runs nothing (no
 * migration, no server, no files written), --version, and clear one-line errors for a busy port, a mistyped
 * COUNTERSIGN_CONFIG and a misspelt policy file.
 */

let dir: string;
let env: NodeJS.ProcessEnv;
let busy: Server;
let busyPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-cli-'));
  env = { ...process.env, COUNTERSIGN_HOME: join(dir, '.countersign') };
  for (const key of ['DATABASE_URL', 'COUNTERSIGN_CONFIG', 'PORT']) delete env[key];
  busy = createServer();
  await new Promise<void>((ok) => busy.listen(0, '127.0.0.1', () => ok()));
  busyPort = (busy.address() as { port: number }).port;
});
afterAll(() => {
  busy.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => run([process.execPath, BIN, ...args], { cwd: dir, env: { ...env, ...extra } });
const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('countersign COMMAND --help runs nothing', () => {
  it.each([
    // The whole description, continuation lines included: which isolation is the default and what none is for.
    [['start', '--help'], 'countersign start [--isolation process|none]'],
    [['start', '--help'], 'in one process (tests, development)'],
    [['migrate', '--help'], 'countersign migrate'],
    [['agent', 'add', '--help'], 'countersign agent add NAME --owner EMAIL'],
    [['approver', 'grant', '--help'], 'countersign approver grant EMAIL ROLE...'],
    [['policy', 'check', '-h'], 'countersign policy check [FILE]'],
    [['audit', 'verify', '--help'], 'countersign audit verify'],
    [['--help'], 'countersign --version | COMMAND --help'],
  ])('%j prints its usage', async (args, usage) => {
    const out = await cli(args);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toContain(usage);
    // Nothing ran: no database, no config, no lock in the empty directory.
    expect(existsSync(join(dir, '.countersign'))).toBe(false);
    expect(existsSync(join(dir, 'countersign.yaml'))).toBe(false);
  });
});

describe('a home remembers its database', () => {
  const pg = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  // Its own directory: these commands write a config where they run.
  const cli = (args: string[], extra: NodeJS.ProcessEnv = {}) => {
    const cwd = join(dir, 'homes');
    mkdirSync(cwd, { recursive: true });
    return run([process.execPath, BIN, ...args], { cwd, env: { ...env, ...extra } });
  };

  it('refuses to open an empty embedded database for a PostgreSQL home when DATABASE_URL is forgotten, and the reverse', async () => {
    const home = join(dir, 'pg-home');
    const migrated = await cli(['migrate'], { COUNTERSIGN_HOME: home, DATABASE_URL: pg });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(home, 'database.json'), 'utf8'))).toMatchObject({ kind: 'postgres' });
    const forgot = await cli(['agent', 'list'], { COUNTERSIGN_HOME: home });
    expect(forgot.code).toBe(1);
    expect(forgot.stderr).toContain(`${home} keeps its state in PostgreSQL (postgres://`);
    expect(forgot.stderr).toContain(new URL(pg).host);
    expect(forgot.stderr).toContain('but DATABASE_URL is not set, so an empty embedded database would be opened instead');
    expect(existsSync(join(home, 'db'))).toBe(false);

    const embedded = join(dir, 'embedded-home');
    expect((await cli(['migrate'], { COUNTERSIGN_HOME: embedded })).code).toBe(0);
    const elsewhere = await cli(['agent', 'list'], { COUNTERSIGN_HOME: embedded, DATABASE_URL: pg });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('keeps its state in its embedded database');
    expect(elsewhere.stderr).toContain('Unset DATABASE_URL to keep using it');
  }, 180_000); // four CLI processes, each compiling the CLI on start: a loaded CI machine took over a minute

  it('marks nothing when the first DATABASE_URL does not connect', async () => {
    const home = join(dir, 'typo-home');
    const typo = await cli(['migrate'], { COUNTERSIGN_HOME: home, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' });
    expect(typo.code).toBe(1);
    expect(existsSync(join(home, 'database.json'))).toBe(false);
  });
});

describe('countersign errors a newcomer can act on', () => {
  it('--version names the version', async () => {
    expect(await cli(['--version'])).toMatchObject({ code: 0, stdout: `countersign ${version}\n` });
  });

  it('a busy port is one line naming PORT, before anything starts', async () => {
    const out = await cli(['start'], { PORT: String(busyPort) });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`countersign: port ${busyPort} on 127.0.0.1 is already in use`);
    expect(out.stderr).toContain(`PORT=${busyPort + 1} npm start`);
    expect(out.stderr).not.toMatch(/at .*\.ts:\d+/);
    expect(existsSync(join(dir, 'countersign.yaml'))).toBe(false);
  });

  it('a COUNTERSIGN_CONFIG naming a missing file is an error, not a fresh default policy', async () => {
    const out = await cli(['policy', 'check'], { COUNTERSIGN_CONFIG: join(dir, 'countersing.yaml') });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('COUNTERSIGN_CONFIG names');
    expect(existsSync(join(dir, 'countersing.yaml'))).toBe(false);
  });

  it('policy check FILE checks FILE, not ./countersign.yaml', async () => {
    const file = join(dir, 'other.yaml');
    writeFileSync(file, 'policy:\n  default: approve\n  rules:\n    - id: r\n      tools: [x_y]\n      decision: allw\n');
    const out = await cli(['policy', 'check', file]);
    expect(out.code).toBe(1);
    expect(out.stdout).toContain('other.yaml');
    expect(existsSync(join(dir, 'countersign.yaml'))).toBe(false);
  });
});

describe('the CLI built ahead of time (npm install runs scripts/build-cli.mjs)', () => {
  it('builds a bundle that runs commands as the sources do, and is used only while no source is newer', async () => {
    // Inside the checkout, as .build/cli is: the bundle finds its packages in node_modules from there.
    const out = join(process.cwd(), '.build', `test-${process.pid}`);
    onTestFinished(() => rmSync(out, { recursive: true, force: true }));
    const built = await run([process.execPath, 'scripts/build-cli.mjs', '--out', out], { cwd: process.cwd(), env });
    expect(built.code, built.stderr).toBe(0);
    const { freshBuild } = await import('../../scripts/sources.mjs');
    const root = process.cwd();
    const entry = freshBuild(root, out);
    expect(entry).toBe(`file://${out}/cli.js`);
    expect(freshBuild(root, out, 'child')).toBe(`file://${out}/child.js`); // each process of --isolation process
    // The bundle itself, not bin/countersign.js (which may fall back to the sources): same answers as the sources.
    const bundled = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
      run([process.execPath, '--input-type=module', '-e', `const { main } = await import(${JSON.stringify(entry)}); process.exitCode = await main(${JSON.stringify(args)});`], { cwd: join(dir, 'homes'), env: { ...env, ...extra } });
    mkdirSync(join(dir, 'homes'), { recursive: true });
    expect(await bundled(['--version'])).toMatchObject({ code: 0, stdout: `countersign ${version}\n` });
    const home = { COUNTERSIGN_HOME: join(dir, 'bundled-home') };
    const added = await bundled(['agent', 'add', 'bundled-bot', '--owner', 'ana@example.com'], home);
    expect(added.code, added.stderr).toBe(0);
    // Its audit entry is in the signed tree when the command exits, not left in the queue for whichever process is next.
    const database = await openDatabase({ dataDir: join(home.COUNTERSIGN_HOME, 'db') });
    try {
      const result = await database.db.execute(sql`select (select count(*) from audit_queue)::int as queued, (select count(*) from audit_entries)::int as entries`);
      expect((result as unknown as { rows: unknown[] }).rows).toEqual([{ queued: 0, entries: 1 }]);
    } finally {
      await database.close();
    }
    expect((await cli(['agent', 'list'], home)).stdout).toContain('bundled-bot');
    // Another checkout's build, or a build older than a source file, is not used.
    expect(freshBuild(join(root, 'elsewhere'), out)).toBeNull();
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { root: string; newest: number };
    writeFileSync(join(out, 'manifest.json'), JSON.stringify({ ...manifest, newest: manifest.newest - 1 }));
    expect(freshBuild(root, out)).toBeNull();
  }, 180_000);
});
