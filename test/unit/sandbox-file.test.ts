import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serialize } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { sandboxFile } from '../../tools/sandbox-file.ts';

/** The sandboxes' saved world: round trip in place (Maps, nested objects), reset, and files it cannot read. */
const dir = mkdtempSync(join(tmpdir(), 'sandbox-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class World {
  readonly pulls = new Map<number, { merged: boolean }>([[42, { merged: false }]]);
  private next = 43;
  take() {
    return this.next++;
  }
}

describe('sandboxFile', () => {
  it('saves and loads into the same objects, and reset brings the seed back', () => {
    const file = join(dir, 'world.v8');
    const world = new World();
    const table = new Map<string, string>();
    const saved = sandboxFile(file, { world, table }, () => ({ world: new World(), table: new Map() }));
    world.pulls.get(42)!.merged = true;
    world.take();
    table.set('key', 'reply');
    saved.save();

    const again = new World();
    const againTable = new Map<string, string>();
    const loaded = sandboxFile(file, { world: again, table: againTable }, () => ({ world: new World(), table: new Map() }));
    expect(again.pulls.get(42)).toEqual({ merged: true });
    expect(again.take()).toBe(44);
    expect(again).toBeInstanceOf(World);
    expect(againTable.get('key')).toBe('reply');

    loaded.reset();
    expect(again.pulls.get(42)).toEqual({ merged: false });
    expect(again.take()).toBe(43);
    expect(againTable.size).toBe(0);
  });

  it('refuses an unreadable or foreign file, naming countersign sandbox reset', () => {
    const broken = join(dir, 'broken.v8');
    writeFileSync(broken, 'not a v8 value');
    expect(() => sandboxFile(broken, { world: new World() }, () => ({ world: new World() }))).toThrow(/cannot be read.*countersign sandbox reset/);
    const foreign = join(dir, 'foreign.v8');
    writeFileSync(foreign, serialize({ format: 99, parts: {} }));
    expect(() => sandboxFile(foreign, { world: new World() }, () => ({ world: new World() }))).toThrow(/another version of Countersign.*countersign sandbox reset/);
  });
});
