import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { connectClient } from '../../test/support/mcp-client.ts';

/**
 * The load generator, in its own process so its CPU never hides the servers'. The parent sends one `go` message: for
 * each agent its token and the replica it talks to, how many calls each makes, and a tag that makes this run's
 * titles unique. Every agent opens one MCP session and makes its calls back to back, in a fixed mix per 20 calls:
 * 10 reads (GitHub and Stripe), 4 allowed writes (a GitHub issue), 3 denials (deleting a branch) and 3 calls that need
 * the owner's approval (an issue comment, decided by the scripted approver). A held call that comes back `pending`
 * waits again with countersign_await; its latency runs until the final answer. Reports every latency by kind, and
 * every answer that was not the expected one.
 */

export type Kind = 'read' | 'write' | 'deny' | 'approve';
export interface Go { op: 'go'; agents: { url: string; token: string }[]; calls: number; tag: string }
export interface Done {
  op: 'done';
  seconds: number;
  latencies: Record<Kind, number[]>;
  /** Calls that ended as they should: read and write with data, deny refused, approve ran after approval. */
  expected: Record<Kind, number>;
  unexpected: { kind: Kind; agent: number; call: number; answer: string }[];
}

const MIX: Kind[] = ['read', 'write', 'read', 'deny', 'read', 'approve', 'read', 'write', 'read', 'deny', 'read', 'approve', 'read', 'write', 'read', 'deny', 'read', 'approve', 'read', 'write'];
const REPO = { owner: 'acme', repo: 'web' };
const READS: [string, Record<string, unknown>][] = [
  ['github_get_repository', REPO],
  ['stripe_get_balance', {}],
  ['github_list_pull_requests', REPO],
  ['stripe_list_charges', {}],
  ['github_get_pull_request', { ...REPO, pull_number: 42 }],
];

interface Answer { isError: boolean; data: Record<string, unknown>; text: string }
async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Answer> {
  const result = await client.callTool({ name, arguments: args }, undefined, { timeout: 300_000 });
  const text = (result.content as { type: string; text?: string }[] | undefined)?.map((c) => c.text ?? '').join(' ') ?? '';
  return { isError: Boolean(result.isError), data: (result.structuredContent ?? {}) as Record<string, unknown>, text };
}

/** One call of `kind`; true when it ended as policy says it must. */
async function one(client: Client, kind: Kind, agent: number, n: number, tag: string): Promise<{ ok: boolean; answer: Answer }> {
  if (kind === 'read') {
    const [name, args] = READS[(agent + n) % READS.length]!;
    const answer = await call(client, name, args);
    return { ok: !answer.isError && answer.data.status === undefined, answer };
  }
  if (kind === 'deny') {
    const answer = await call(client, 'github_delete_branch', { ...REPO, branch: 'wip/billing' });
    return { ok: answer.isError && answer.data.status === 'denied', answer };
  }
  if (kind === 'write') {
    const answer = await call(client, 'github_create_issue', { ...REPO, title: `load ${tag} agent ${agent} call ${n}` });
    return { ok: !answer.isError && typeof answer.data.number === 'number', answer };
  }
  let answer = await call(client, 'github_create_issue_comment', { ...REPO, issue_number: 1, body: `load ${tag} agent ${agent} call ${n}` });
  while (!answer.isError && answer.data.status === 'pending') {
    answer = await call(client, 'countersign_await', { id: answer.data.approval_id });
  }
  return { ok: !answer.isError && typeof answer.data.id === 'number', answer };
}

const go = await new Promise<Go>((resolve) => process.once('message', (m) => resolve(m as Go)));
const kinds: Kind[] = ['read', 'write', 'deny', 'approve'];
const latencies = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>;
const expected = Object.fromEntries(kinds.map((k) => [k, 0])) as Record<Kind, number>;
const unexpected: Done['unexpected'] = [];
const clients = await Promise.all(go.agents.map((a) => connectClient(a.url, a.token)));
const started = performance.now();
await Promise.all(clients.map(async (client, agent) => {
  for (let n = 0; n < go.calls; n++) {
    const kind = MIX[(n + agent) % MIX.length]!;
    const t = performance.now();
    let outcome: { ok: boolean; answer: Answer };
    try {
      outcome = await one(client, kind, agent, n, go.tag);
    } catch (error) {
      outcome = { ok: false, answer: { isError: true, data: {}, text: `threw: ${(error as Error).message}` } };
    }
    latencies[kind].push(performance.now() - t);
    if (outcome.ok) expected[kind]++;
    else unexpected.push({ kind, agent, call: n, answer: `${outcome.answer.text} ${JSON.stringify(outcome.answer.data)}`.slice(0, 400) });
  }
}));
const seconds = (performance.now() - started) / 1000;
await Promise.all(clients.map((c) => c.close().catch(() => {})));
process.send!({ op: 'done', seconds, latencies, expected, unexpected } satisfies Done, () => process.exit(0));
