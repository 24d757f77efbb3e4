import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Json, Message, Reply } from '../../kernel/index.ts';
import { openChannel, type Channel } from '../../gateway/isolation/channel.ts';
import { socketPair } from '../support/socket-pair.ts';

// The frame channel between the kernel's process and a child's (--isolation process), over a real Unix socket pair.
// An executor's answer is what an upstream sent: one this end cannot put in a frame must come back as an error, not
// crash the process holding every other call in flight.

let dir: string;
let caller: Channel;
let answerer: Channel;
/** What the answering end replies to a call whose body names it. */
const answers = new Map<string, () => Json>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'countersign-channel-'));
  const [a, b] = await socketPair(dir, 'pair');
  caller = openChannel(a, async () => ({ ok: false, error: { code: 'bad_request', message: 'the caller answers nothing' } }));
  answerer = openChannel(b, async (_from, _to, body: Message): Promise<Reply> => ({ ok: true, value: answers.get(String(body.op))!() }));
});
afterAll(() => {
  caller?.close();
  answerer?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a reply the answering end cannot send', () => {
  it('arrives as upstream_unknown saying why, for an answer nested too deep or too large, and the channel keeps working', async () => {
    let deep: Json = 'x';
    for (let i = 0; i < 20_000; i++) deep = [deep];
    answers.set('deep', () => deep);
    answers.set('huge', () => 'x'.repeat(17 * 1024 * 1024));
    answers.set('plain', () => ({ text: 'fine' }));
    expect(await caller.call('kernel', 'connector.test', { op: 'deep' })).toEqual({
      ok: false,
      error: { code: 'upstream_unknown', message: 'the answer could not be passed between processes (Maximum call stack size exceeded), so what it said is unknown' },
    });
    expect(await caller.call('kernel', 'connector.test', { op: 'huge' })).toEqual({
      ok: false,
      error: { code: 'upstream_unknown', message: 'the answer could not be passed between processes (it is larger than the 16 MB a frame may carry), so what it said is unknown' },
    });
    expect(await caller.call('kernel', 'connector.test', { op: 'plain' })).toEqual({ ok: true, value: { text: 'fine' } });
    expect(caller.pending() + answerer.pending()).toBe(0);
  });

  it('sends an answer up to the frame limit whole', async () => {
    const text = 'y'.repeat(16 * 1024 * 1024 - 100);
    answers.set('big', () => text);
    const reply = await caller.call('kernel', 'connector.test', { op: 'big' });
    expect(reply.ok && reply.value === text).toBe(true);
  });
});
