import { KernelError, type Db, type Port } from '../../kernel/index.ts';
import { kernelClient } from '../kernel-client.ts';
import type { CommandResult } from '../invite-command.ts';
import { createPairingCode } from './pairing.ts';

/** Quotes a value for a POSIX shell when it needs it, so the printed emulator command can be pasted as is. */
const shellWord = (value: string) => (/^[A-Za-z0-9_./:@=-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);

/**
 * `countersign device pair --approver EMAIL [--name NAME] [--json]`: a one-time pairing code for an approver's
 * Passport, with the server URL and the emulator command that uses it (run as `cli`, see gateway/invocation.ts); with --json one object
 * `{code, approver, name, url, expiresAt, command}` (or `{error: {code, message}}`).
 * @example await devicePair(db, services.admin, 'http://localhost:8787', { email: 'jane@example.com' })
 */
export async function devicePair(db: Db, port: Port, publicUrl: string, options: { email: string; name?: string | null; json?: boolean; cli?: string }): Promise<CommandResult> {
  const cli = options.cli ?? 'countersign';
  const failed = (code: string, message: string): CommandResult => ({
    exitCode: 2,
    stdout: options.json ? JSON.stringify({ error: { code, message } }) + '\n' : `countersign device pair: ${message}\n`,
  });
  const approver = await kernelClient(port).approverByEmail(options.email.trim().toLowerCase());
  if (!approver) {
    return failed('not_an_approver', `${options.email} is not an enrolled approver; send them an enrollment link (${cli} approver invite ${shellWord(options.email)}) and pair their Passport once they have enrolled`);
  }
  let pairing;
  try {
    pairing = await createPairingCode(db, { approverId: approver.id, name: options.name ?? null });
  } catch (error) {
    if (error instanceof KernelError && error.code === 'bad_request') return failed(error.code, error.message);
    throw error;
  }
  const url = publicUrl.replace(/\/$/, '');
  const command = [cli, ...['passport', 'pair', '--url', url, '--code', pairing.code, ...(pairing.name ? ['--name', pairing.name] : [])].map(shellWord)].join(' ');
  if (options.json) {
    const out = { code: pairing.code, approver: approver.email, name: pairing.name, url, expiresAt: pairing.expiresAt.toISOString(), command };
    return { exitCode: 0, stdout: JSON.stringify(out) + '\n' };
  }
  const minutes = Math.round((pairing.expiresAt.getTime() - Date.now()) / 60_000);
  const lines = [
    `Pairing code for a Passport of ${approver.email}${pairing.name ? ` ("${pairing.name}")` : ''}. It works once and expires in ${minutes} minutes (${pairing.expiresAt.toISOString()}):`,
    '',
    `  ${pairing.code}`,
    '',
    `Server: ${url}`,
    'Enter both on the device, or pair the software emulator:',
    '',
    `  ${command}`,
    '',
  ];
  return { exitCode: 0, stdout: lines.join('\n') };
}
