import { describe, expect, it } from 'vitest';
import { KERNEL_THRESHOLD, ciFailures, hasRuntimeCode, mutateCommand, scopeFiles, staleFiles } from '../../scripts/mutation-ci.mjs';

// The CI gate of mutation testing (`node scripts/mutate.mjs --ci`, run by .ci/run): it must fail when trusted code
// changed without its mutation results, when the run was cut short, and when the kernel's score falls under 90%.

type Counts = { killed: number; survived: number; noCoverage: number };
const gate = (kernel: Counts, extra: { stale?: string[]; timedOut?: boolean } = {}): string[] =>
  ciFailures({ kernel, stale: extra.stale ?? [], timedOut: extra.timedOut ?? false, minutes: 12 });

describe('mutation testing in CI', () => {
  it('finds the files in scope whose results are missing or belong to another version of their source', () => {
    const now: Record<string, string | null> = { 'kernel/a.ts': 'export const a = 1;\n', 'kernel/b.ts': 'export const b = 2;\n', 'tools/host.ts': 'x' };
    const record = { 'kernel/a.ts': { source: 'export const a = 1;\n' }, 'kernel/b.ts': { source: 'export const b = 1;\n' } };
    expect(staleFiles(['tools/host.ts', 'kernel/b.ts', 'kernel/a.ts'], record, (f: string) => now[f] ?? null)).toEqual(['kernel/b.ts', 'tools/host.ts']);
    expect(staleFiles(['kernel/a.ts'], record, (f: string) => now[f] ?? null)).toEqual([]);
  });

  it('takes every kernel/ file and the files the globs name into scope, and nothing else', () => {
    const repo = ['kernel/flow.ts', 'kernel/audit/log.ts', 'kernel/README.md', 'tools/host.ts', 'tools/github/index.ts',
      'approval-web/hygiene.ts', 'approval-web/hygiene/hidden.ts', 'approval-web/hygiene/deep/x.ts', 'approval-web/devices/auth.ts', 'gateway/mcp.ts'];
    const globs = ['tools/host.ts', 'approval-web/hygiene.ts', 'approval-web/hygiene/*.ts', 'approval-web/devices/auth.ts'];
    expect(scopeFiles(globs, repo)).toEqual(['approval-web/devices/auth.ts', 'approval-web/hygiene.ts', 'approval-web/hygiene/hidden.ts',
      'kernel/audit/log.ts', 'kernel/flow.ts', 'tools/host.ts']);
    expect(scopeFiles(['kernel/**/*.ts'], ['kernel/a.ts', 'kernel/x/y/b.ts', 'kernelx/c.ts'])).toEqual(['kernel/a.ts', 'kernel/x/y/b.ts']);
  });

  it('asks results only of files with code to mutate: types, comments, imports, re-exports and constant tables need none', () => {
    // kernel/connector.ts's shape: words like "if" and "return" in comments, arrows in types.
    expect(hasRuntimeCode(`import type { X } from './x.ts';\n/** Read it only if you must; return early. */\nexport interface C { run(x: X): Promise<void>; f: (a: number) => string }\nexport type K = 'a' | 'b';\n`)).toBe(false);
    expect(hasRuntimeCode(`export * as schema from './store/schema.ts';\nexport { a, type B } from './a.ts';\n`)).toBe(false);
    // Constant tables are module-level code: static mutants, which the configuration ignores.
    expect(hasRuntimeCode(`import { z } from 'zod';\nexport const LIMIT = 3;\nexport const TABLE = { a: ['x', 'y'] };\n`)).toBe(false);
    expect(hasRuntimeCode(`export const at = (name: string) => timestamp(name);\nexport const t = pgTable('t', { a: at('a') }, (x) => [index('i').on(x.a)]);\n`)).toBe(false);
    expect(hasRuntimeCode(`export const rowsOf = (r: { rows: number[] }) => {\n  if (r.rows.length === 0) throw new Error('none');\n  return r.rows;\n};\n`)).toBe(true);
    expect(hasRuntimeCode(`export function f(x: number): number {\n  return x + 1;\n}\n`)).toBe(true);
  });

  it('passes at the threshold with every file run, and fails just under it naming the score', () => {
    expect(KERNEL_THRESHOLD).toBe(90);
    expect(gate({ killed: 90, survived: 7, noCoverage: 3 })).toEqual([]);
    const under = gate({ killed: 899, survived: 100, noCoverage: 1 });
    expect(under).toHaveLength(1);
    expect(under[0]).toMatch(/^kernel\/ mutation score 89\.9% \(899 of 1000 killed\) is below 90%/);
    // Not-covered mutants count against the score like survivors.
    expect(gate({ killed: 89, survived: 0, noCoverage: 11 })[0]).toMatch(/89\.0%/);
    // No kernel results at all is no score, not a pass.
    expect(gate({ killed: 0, survived: 0, noCoverage: 0 })[0]).toMatch(/0\.0% \(0 of 0 killed\)/);
  });

  it('fails when a file has no results for its current source, and says what to run', () => {
    const failures = gate({ killed: 100, survived: 0, noCoverage: 0 }, { stale: ['kernel/audit/store.ts', 'tools/host.ts'] });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^trusted code changed without mutation testing: no committed results for the current source of kernel\/audit\/store\.ts, tools\/host\.ts\. /);
    expect(failures[0]).toContain('Run `npm run mutate -- --mutate kernel/audit/store.ts,tools/host.ts` and commit test/mutation/stryker-incremental.json');
    expect(mutateCommand(['kernel/flow.ts'])).toBe('npm run mutate -- --mutate kernel/flow.ts');
  });

  it('fails when the run hit its time limit, even with a good score', () => {
    expect(gate({ killed: 100, survived: 0, noCoverage: 0 }, { timedOut: true })[0]).toMatch(/did not finish within 12 minutes \(MUTATE_CI_MINUTES\)/);
    expect(gate({ killed: 100, survived: 0, noCoverage: 0 }, { timedOut: true })[0]).toContain('Run `npm run mutate -- --since HEAD~1` locally and commit');
  });
});
