import { describe, expect, it } from 'vitest';
import { backoffMs, GOOD_RUN_MS, quickCrashesAfter } from '../../gateway/isolation/supervisor.ts';

// The supervisor's wait before restarting a crashed child (gateway/isolation/supervisor.ts): 0.5 s doubling per quick
// crash in a row, at most 30 s; a child that ran a minute before it crashed starts the count over.

describe('supervisor backoff', () => {
  it('doubles from 0.5 s per quick crash in a row and stays at 30 s', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20, 1000].map(backoffMs)).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
  });

  it('counts a crash soon after a start as one more quick crash, and one after a minute of good running as none', () => {
    expect(quickCrashesAfter(0, 200)).toBe(1);
    expect(quickCrashesAfter(4, GOOD_RUN_MS - 1)).toBe(5);
    expect(quickCrashesAfter(4, GOOD_RUN_MS + 1)).toBe(0);
    expect(quickCrashesAfter(9, 3_600_000)).toBe(0);
  });

  it('a child crashing right after every start climbs to the cap; a good minute brings it back to 0.5 s', () => {
    let count = 0;
    const waits: number[] = [];
    for (let crash = 0; crash < 9; crash++) {
      count = quickCrashesAfter(count, 300);
      waits.push(backoffMs(count));
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000]);
    count = quickCrashesAfter(count, 2 * GOOD_RUN_MS);
    expect(backoffMs(count)).toBe(500);
  });
});
