import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeStale } from '../../gateway/isolation/edge-bundle.ts';

// A supervisor killed with SIGKILL leaves its edge bundle behind; the next one removes it, and only bundles whose
// supervisor is gone.
describe('edge bundles left by a killed supervisor', () => {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-stale-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('removes a bundle whose supervisor is gone and keeps a live one and anything else', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const dead = join(dir, `countersign-edge-${gone}-abc123`);
    const live = join(dir, `countersign-edge-${process.ppid}-def456`);
    const other = join(dir, 'countersign-edge-XyZ123');
    for (const d of [dead, live, other]) mkdirSync(d);
    removeStale(dir);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });
});
