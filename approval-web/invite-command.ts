import QRCode from 'qrcode';
import { KernelError, type Db } from '../kernel/index.ts';
import { createInvite } from './invites.ts';

/** What a CLI command hands back to gateway/cli.ts, which prints stdout and exits with exitCode. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
}

/**
 * `countersign approver invite EMAIL [--role ROLE] [--json]`: a one-time enrollment link plus a terminal QR code,
 * or with --json one object `{url, email, role, expiresAt}` (or `{error: {code, message}}`).
 * @example const { exitCode, stdout } = await approverInvite(db, 'http://localhost:8787', { email: 'jane@example.com' });
 */
export async function approverInvite(
  db: Db,
  publicUrl: string,
  options: { email: string; role?: string | null; json?: boolean; ttlMinutes?: number },
): Promise<CommandResult> {
  let invite;
  try {
    invite = await createInvite(db, { email: options.email, role: options.role ?? null, ttlMinutes: options.ttlMinutes, publicUrl });
  } catch (error) {
    if (!(error instanceof KernelError) || error.code !== 'bad_request') throw error;
    const stdout = options.json ? JSON.stringify({ error: error.toJSON() }) + '\n' : `countersign approver invite: ${error.message}\n`;
    return { exitCode: 2, stdout };
  }
  const email = options.email.trim().toLowerCase();
  const role = options.role ?? null;
  if (options.json) {
    return { exitCode: 0, stdout: JSON.stringify({ url: invite.url, email, role, expiresAt: invite.expiresAt.toISOString() }) + '\n' };
  }
  const qr = await QRCode.toString(invite.url, { type: 'terminal', small: true });
  const minutes = Math.round((invite.expiresAt.getTime() - Date.now()) / 60_000);
  const lines = [
    `Enrollment link for ${email}${role ? ` (role ${role})` : ''}. It works once and expires in ${minutes} minutes (${invite.expiresAt.toISOString()}):`,
    '',
    `  ${invite.url}`,
    '',
    'Open it on the phone or computer that will hold the passkey, or scan:',
    '',
    qr,
  ];
  return { exitCode: 0, stdout: lines.join('\n') + '\n' };
}
