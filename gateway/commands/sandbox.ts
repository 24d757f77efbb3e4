import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandOutput } from '../admin.ts';
import type { RunningConnectors } from '../connectors.ts';

/**
 * `countersign sandbox reset`: the sandbox upstreams' world (PR #42 open, no refunds yet) as first seeded. A running
 * server resets its sandboxes in place and goes on serving; with none running, the saved files in
 * COUNTERSIGN_HOME/sandbox/ are deleted and the next start seeds afresh. Countersign's own history (requests, audit)
 * is not touched: it still says what happened, and the sandbox no longer shows it.
 */
const STORY = 'acme/web has PR #42 open again, Stripe has no refunds or payouts, the AWS resources are as seeded';
const HISTORY = 'Countersign\'s own history (requests, approvals, audit log) is kept';

/** In the running server (through its admin socket). */
export async function sandboxResetRunning(connectors: RunningConnectors, json: boolean): Promise<CommandOutput> {
  if (!connectors.resetSandboxes) {
    const stdout = 'this server cannot reset its sandboxes in place; stop the server, run countersign sandbox reset, then start it again\n';
    return { exitCode: 1, stdout: json ? `${JSON.stringify({ reset: [], error: stdout.trim() })}\n` : stdout };
  }
  const reset = await connectors.resetSandboxes();
  if (json) return { exitCode: 0, stdout: `${JSON.stringify({ reset, running: true })}\n` };
  if (reset.length === 0) return { exitCode: 0, stdout: 'no connector runs against a sandbox (all have credentials); nothing to reset\n' };
  return { exitCode: 0, stdout: `Sandbox reset (${reset.join(', ')}): ${STORY}. The running server uses it now; ${HISTORY}.\n` };
}

/** With no server running: forgets the saved sandbox files. */
export function sandboxResetOffline(home: string, json: boolean): CommandOutput {
  const removed = removeFiles(home);
  if (json) return { exitCode: 0, stdout: `${JSON.stringify({ reset: removed, running: false })}\n` };
  if (removed.length === 0) return { exitCode: 0, stdout: `Sandbox is already as seeded (no saved state in ${join(home, 'sandbox')}).\n` };
  return { exitCode: 0, stdout: `Sandbox reset (${removed.join(', ')}): the next countersign start begins the story afresh: ${STORY}. ${HISTORY}.\n` };
}

function removeFiles(home: string): string[] {
  const dir = join(home, 'sandbox');
  if (!existsSync(dir)) return [];
  const files = readdirSync(dir).filter((f) => f.endsWith('.v8'));
  for (const file of files) rmSync(join(dir, file), { force: true });
  return files.map((f) => f.slice(0, -'.v8'.length));
}
