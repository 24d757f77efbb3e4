import { cliFor, enrollRemote } from '../../test/support/remote-approver.ts';

/**
 * The owner, scripted, in its own process: enrolled through the invite link with a software passkey, then deciding
 * on a paired Passport (the device key signs the decision over each request's digest, evidence the kernel verifies
 * like a passkey assertion). It reads its inbox from each replica in turn and approves what it finds there, so an
 * approval is often decided on the replica that does not hold the call (LISTEN/NOTIFY wakes the other).
 */

export interface Start { op: 'start'; urls: string[]; publicUrl: string; home: string; email: string }
export interface Report { op: 'report'; decided: number; refused: { status: number; body: string }[] }

const start = await new Promise<Start>((resolve) => process.once('message', (m) => resolve(m as Start)));
let at = 0;
const owner = await enrollRemote(() => start.urls[at % start.urls.length]!, start.publicUrl, cliFor(start.home, process.env), start.email);
process.send!({ op: 'ready' });

let stopping = false;
process.once('message', () => (stopping = true));
const seen = new Set<string>();
let decided = 0;
const refused: Report['refused'] = [];
while (!stopping) {
  at++;
  const items = await owner.inbox().catch(() => []);
  const fresh = items.filter((item) => !seen.has(item.id));
  await Promise.all(fresh.map(async (item) => {
    seen.add(item.id);
    const answer = await owner.decide(item.id, item.digest, 'approve').catch((error: Error) => ({ status: 0, json: { error: error.message } }));
    if (answer.status === 200) decided++;
    else if (refused.length < 20) refused.push({ status: answer.status, body: JSON.stringify(answer.json).slice(0, 300) });
    // A server error or a dropped connection decided nothing: the request stays in the inbox for the next round.
    if (answer.status === 0 || answer.status >= 500) seen.delete(item.id);
  }));
  if (fresh.length === 0) await new Promise((r) => setTimeout(r, 50));
}
process.send!({ op: 'report', decided, refused } satisfies Report, () => process.exit(0));
