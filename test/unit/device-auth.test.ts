import { describe, expect, it } from 'vitest';
import { DeviceAuthError, NonceCache } from '../../approval-web/devices/auth.ts';

describe('device nonce cache', () => {
  it('remembers a nonce until it could no longer be fresh, then forgets it', () => {
    const cache = new NonceCache(10);
    expect(cache.remember('dev:a', 0)).toBe(true);
    expect(cache.remember('dev:a', 1000)).toBe(false);
    expect(cache.remember('dev:a', 131_000)).toBe(true);
  });

  it('refuses rather than forgets early when full of live nonces, and recovers once they age out', () => {
    const cache = new NonceCache(3);
    for (const n of ['a', 'b', 'c']) expect(cache.remember(n, 0)).toBe(true);
    expect(() => cache.remember('d', 1000)).toThrow(DeviceAuthError);
    expect(cache.remember('a', 1000)).toBe(false);
    expect(cache.remember('d', 131_000)).toBe(true);
  });
});
