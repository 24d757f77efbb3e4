/**
 * Throttles guessing: failed sign-ins, pairing codes, agent tokens. Each key (a kind and a client address) may fail
 * `max` times per `windowSeconds`; past that, attempts are refused before they are checked, with the seconds until
 * the oldest failure leaves the window (for Retry-After). Successes cost nothing, so people who get it right are never
 * slowed. Memory is bounded: at most `maxKeys` keys are remembered, the least recently failing forgotten first.
 *
 * @example
 * const signIns = failureThrottle({ max: 10, windowSeconds: 300 });
 * const wait = signIns.blocked(ip); if (wait) return tooMany(wait); ... if (!ok) signIns.failed(ip);
 */

export interface Throttle {
  /** Seconds to wait when `key` is over its limit, else 0. */
  blocked(key: string): number;
  /** Records one failure for `key`. */
  failed(key: string): void;
}

export interface ThrottleOptions {
  max: number;
  windowSeconds: number;
  maxKeys?: number;
  now?: () => number;
}

export function failureThrottle(options: ThrottleOptions): Throttle {
  const { max, windowSeconds } = options;
  if (!Number.isInteger(max) || max < 1) throw new Error(`a throttle needs max >= 1 failures, got ${max}`);
  const windowMs = windowSeconds * 1000;
  const maxKeys = options.maxKeys ?? 10_000;
  const now = options.now ?? Date.now;
  // Map order is insertion order; a key is re-inserted on each failure, so the first key is the stalest.
  const failures = new Map<string, number[]>();

  const recent = (key: string, t: number): number[] => {
    const times = (failures.get(key) ?? []).filter((at) => at > t - windowMs);
    if (times.length === 0) failures.delete(key);
    return times;
  };

  return {
    blocked(key) {
      // Every authenticated MCP request asks: an address that never failed costs one look-up.
      if (!failures.has(key)) return 0;
      const t = now();
      const times = recent(key, t);
      if (times.length < max) return 0;
      return Math.max(1, Math.ceil((times[times.length - max]! + windowMs - t) / 1000));
    },
    failed(key) {
      const t = now();
      const times = recent(key, t);
      times.push(t);
      failures.delete(key);
      failures.set(key, times.slice(-max));
      if (failures.size > maxKeys) failures.delete(failures.keys().next().value!);
    },
  };
}
