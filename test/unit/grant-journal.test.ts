import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { openGrantJournal } from '../../tools/journal.ts';

// The executor's grant journal (tools/journal.ts): every line written before the call it guards, a write's line on
// disk first. The disk is the real one; what this file watches is the order of the system calls, as the journal's
// module makes them (node:fs, wrapped to log writes and flushes and to fail a flush on demand).
const disk = vi.hoisted(() => ({ log: [] as string[], failFlush: null as NodeJS.ErrnoException | null }));
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const writeSync = ((fd: number, text: string) => {
    disk.log.push(`write ${text.trim()}`);
    return fs.writeSync(fd, text);
  }) as typeof fs.writeSync;
  const fdatasync = ((fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => {
    disk.log.push('flush start');
    const failed = disk.failFlush;
    disk.failFlush = null;
    if (failed) return setImmediate(() => callback(failed));
    fs.fdatasync(fd, (error) => {
      disk.log.push('flush end');
      callback(error);
    });
  }) as typeof fs.fdatasync;
  return { ...fs, default: { ...fs, writeSync, fdatasync }, writeSync, fdatasync };
});

const dir = mkdtempSync(join(tmpdir(), 'countersign-journal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => void (disk.log.length = 0));
const expires = () => new Date(Date.now() + 600_000);

describe('grant journal', () => {
  it("writes a read's grant at once and flushes nothing", async () => {
    const path = join(dir, 'reads.grants');
    const journal = openGrantJournal(path);
    disk.log.length = 0;
    const used = journal.use('read-1', expires(), false);
    // Written before use() returns, so it is in the file whatever happens to this process next.
    expect(readFileSync(path, 'utf8')).toMatch(/^read-1 \d+\n$/);
    await used;
    expect(disk.log).toEqual(['write read-1 ' + readFileSync(path, 'utf8').split(' ')[1]!.trim()]);
    journal.close();
  });

  it("resolves a write's grant only after a flush that began after its line was written, one flush for many", async () => {
    const journal = openGrantJournal(join(dir, 'writes.grants'));
    disk.log.length = 0;
    const resolved: string[] = [];
    const jtis = Array.from({ length: 20 }, (_, i) => `write-${i}`);
    const uses = jtis.map((jti) => journal.use(jti, expires(), true).then(() => void resolved.push(`${jti} after ${disk.log.lastIndexOf('flush end')}`)));
    await Promise.all(uses);
    const flushes = disk.log.filter((l) => l === 'flush start').length;
    // Twenty concurrent writes shared the flushes (group commit): all twenty lines were written before the first one.
    expect(flushes).toBe(1);
    expect(disk.log.slice(0, 20).every((l) => l.startsWith('write '))).toBe(true);
    expect(disk.log.slice(20)).toEqual(['flush start', 'flush end']);
    expect(resolved).toHaveLength(20);

    // A line written while a flush runs waits for the next one: the running flush may have missed it.
    disk.log.length = 0;
    const a = journal.use('during-a', expires(), true);
    await new Promise((ok) => setImmediate(ok)); // a's flush has started
    expect(disk.log).toEqual([expect.stringMatching(/^write during-a /), 'flush start']);
    let bDone = false;
    const b = journal.use('during-b', expires(), true).then(() => (bDone = true));
    await a;
    const aEnd = disk.log.indexOf('flush end');
    await b;
    expect(bDone).toBe(true);
    expect(disk.log.filter((l) => l === 'flush start')).toHaveLength(2);
    expect(disk.log.indexOf('flush start', aEnd)).toBeGreaterThan(disk.log.findIndex((l) => l.startsWith('write during-b')));
    journal.close();
  });

  it('refuses a grant used before, in this process and after a restart, for reads and writes alike', async () => {
    const path = join(dir, 'again.grants');
    const first = openGrantJournal(path);
    await first.use('once-w', expires(), true);
    await first.use('once-r', expires(), false);
    // Also when the second use comes before the first one's flush ended.
    const racing = first.use('racing', expires(), true);
    await expect(first.use('racing', expires(), true)).rejects.toMatchObject({ code: 'grant_consumed' });
    await racing;
    await expect(first.use('once-w', expires(), false)).rejects.toMatchObject({ code: 'grant_consumed', message: 'this executor has already acted on this grant; a grant is used once, so nothing was executed' });
    first.close();
    const next = openGrantJournal(path);
    for (const jti of ['once-w', 'once-r', 'racing']) await expect(next.use(jti, expires(), true)).rejects.toMatchObject({ code: 'grant_consumed' });
    await expect(next.use('bad id!', expires(), true)).rejects.toMatchObject({ code: 'grant_invalid' });
    next.close();
  });

  it('refuses the call when the flush fails, saying so, and keeps the grant used; the next flush works again', async () => {
    const journal = openGrantJournal(join(dir, 'failing.grants'));
    disk.failFlush = Object.assign(new Error('input/output error'), { code: 'EIO' });
    await expect(journal.use('lost', expires(), true)).rejects.toMatchObject({
      code: 'internal',
      message: expect.stringMatching(/^the executor could not flush its grant journal .*failing\.grants to disk \(EIO\); nothing was executed$/),
    });
    await expect(journal.use('lost', expires(), true)).rejects.toMatchObject({ code: 'grant_consumed' });
    await expect(journal.use('after', expires(), true)).resolves.toBeUndefined();
    journal.close();
  });
});
