import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { v8Flags } from '../../gateway/isolation/supervisor.ts';

/**
 * Which compiler compiled each function of the embedded database's WebAssembly, in a Node started with `flags` that
 * opens an in-memory database through gateway/db.ts and runs 300 pairs of statements (V8's own trace, one line per
 * function compiled). --wasm-tier-mask-for-testing=1 has V8 compile a module's first function with TurboFan at once
 * unless --liftoff-only is in effect, so the answer does not depend on how soon a tier-up would come.
 */
async function compilers(flags: string[]): Promise<{ code: number | null; output: string; database: string[] }> {
  const script = `
    import { sql } from 'drizzle-orm';
    const { openDatabase } = await import(${JSON.stringify(pathToFileURL(resolve('gateway/db.ts')).href)});
    const database = await openDatabase({ dataDir: null });
    await database.db.execute(sql.raw('create table t (id serial primary key, v jsonb)'));
    for (let i = 0; i < 300; i++) {
      await database.db.execute(sql\`insert into t (v) values (\${JSON.stringify({ i })})\`);
      await database.db.execute(sql\`select count(*) from t where v->>'i' = \${String(i)}\`);
    }
    await database.close();`;
  const args = [...flags, '--wasm-tier-mask-for-testing=1', '--trace-wasm-compilation-times', '--import', 'tsx', '--input-type=module', '-e', script];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  // "Compiled function 0x7f2ee8001150#20 using TurboFan, ...": the module's address, the function's index, the compiler.
  const modules = new Map<string, string[]>();
  for (const [, module, compiler] of output.matchAll(/^Compiled function (0x[0-9a-f]+)#\d+ using (\w+)/gm)) {
    modules.set(module!, [...(modules.get(module!) ?? []), compiler!]);
  }
  // pglite.wasm is by far the largest module in the process (the others: Node's CommonJS lexer, undici's parser).
  const database = [...modules.values()].sort((a, b) => b.length - a.length)[0] ?? [];
  return { code, output, database };
}

// The process set's kernel, which holds the embedded database, starts with --liftoff-only on its command line
// (gateway/isolation/supervisor.ts): V8's TurboFan tier-up leaves its compilations' native memory with the process
// (bench/NOTES.md, ninth and eleventh passes). Set at run time the flag works on Node 20 and is ignored on Node 24, so
// this runs on each Node CI uses: on the command line it holds on both.
describe(`embedded database under --liftoff-only on the command line (Node ${process.versions.node})`, () => {
  it('compiles none of its functions with TurboFan; without the flag, V8 does', { timeout: 180_000 }, async () => {
    const [liftoff, defaults] = await Promise.all([compilers(['--liftoff-only']), compilers([])]);
    expect(liftoff.code, liftoff.output.slice(-2000)).toBe(0);
    expect(liftoff.database.length).toBeGreaterThan(1000);
    expect(liftoff.database.filter((compiler) => compiler !== 'Liftoff')).toEqual([]);
    expect(defaults.code, defaults.output.slice(-2000)).toBe(0);
    expect(defaults.database.filter((compiler) => compiler === 'TurboFan').length).toBeGreaterThan(0);
  });
});

describe('the process set: which child gets --liftoff-only', () => {
  it('the kernel on the embedded database only; on PostgreSQL, and every other child, V8 keeps its defaults', () => {
    expect(v8Flags('kernel', {})).toEqual(['--liftoff-only']);
    expect(v8Flags('kernel', { DATABASE_URL: 'postgres://db.internal/countersign' })).toEqual([]);
    for (const role of ['edge', 'executor:github', 'executor:mcp'] as const) expect(v8Flags(role, {}), role).toEqual([]);
  });
});
