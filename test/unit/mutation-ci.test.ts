import { describe, expect, it } from 'vitest';
import { KERNEL_THRESHOLD, ciFailures, staleFiles } from '../../scripts/mutation-ci.mjs';

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
    expect(failures).toEqual(['no mutation results for the current source of: kernel/audit/store.ts, tools/host.ts. Run `npm run mutate -- --mutate kernel/audit/store.ts,tools/host.ts` and commit the results.']);
  });

  it('fails when the run hit its time limit, even with a good score', () => {
    expect(gate({ killed: 100, survived: 0, noCoverage: 0 }, { timedOut: true })[0]).toMatch(/did not finish within 12 minutes \(MUTATE_CI_MINUTES\)/);
  });
});
