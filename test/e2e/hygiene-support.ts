import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runState } from '../../gateway/cli.ts';
import { passportMain, type PassportIo } from '../../gateway/commands/passport.ts';
import type { Stack } from '../support/harness.ts';

/** The Passport emulator as a user runs it, for the hygiene tests: paired with a real code, run once over HTTP. */

export interface Emulator {
  /** Runs `countersign passport --once --reject-all` and returns everything it printed. */
  showInbox(): Promise<string>;
  close(): void;
}

export async function pairEmulator(stack: Stack, email: string): Promise<Emulator> {
  const dir = mkdtempSync(join(tmpdir(), 'countersign-hygiene-passport-'));
  const home = join(dir, 'device');
  const paired = await runState(stack.services, ['device', 'pair', '--approver', email, '--json']);
  if (paired.exitCode !== 0) throw new Error(`device pair failed: ${JSON.stringify(paired)}`);
  const { code } = JSON.parse(paired.stdout) as { code: string };
  const pairing = capture();
  const exit = await passportMain(['pair', '--url', stack.url, '--code', code, '--home', home], pairing);
  if (exit !== 0) throw new Error(`passport pair failed: ${pairing.text()}`);
  return {
    async showInbox() {
      const io = capture();
      await passportMain(['--once', '--reject-all', '--home', home], io);
      return io.text();
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

function capture(): PassportIo & { text: () => string } {
  let out = '';
  return { write: (t) => void (out += t), ask: null, text: () => out };
}
