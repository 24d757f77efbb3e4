/** Shared measuring helpers for the benchmarks. */

export function middle(samples: number[]): number {
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)];
}

/**
 * Median microseconds of each function, sampled alternately so warm-up and drift hit both alike.
 * `warmup` rounds run first and are not measured.
 */
export async function paired(iterations: number, a: () => unknown, b: () => unknown, warmup = 50): Promise<[number, number]> {
  for (let i = 0; i < warmup; i++) {
    await a();
    await b();
  }
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < iterations; i++) {
    for (const [fn, into] of [[a, as], [b, bs]] as const) {
      const start = process.hrtime.bigint();
      await fn();
      into.push(Number(process.hrtime.bigint() - start) / 1000);
    }
  }
  return [middle(as), middle(bs)];
}
