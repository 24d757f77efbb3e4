import { KernelError, schema, type ApproverView, type Db, type Port } from '../../kernel/index.ts';
import { approverInvite } from '../../approval-web/invite-command.ts';
import { closest } from '../config.ts';

/**
 * `countersign approver invite|grant|revoke|list`. A role's members are the emails config lists under `roles:` plus
 * the people given the role here (stored with the approver in the database, each change audited as
 * `approver.roles.changed`). Role names come from config, since only config's policy can ask for a role.
 */

export interface CommandOutput {
  exitCode: number;
  stdout: string;
}

export interface ApproverTarget {
  admin: Port;
  publicUrl: string;
  database: { db: Db };
  config: { roles: Record<string, string[]> };
  configPath?: string;
}

const fail = (json: boolean | undefined, command: string, code: string, message: string, exitCode = 2): CommandOutput => ({
  exitCode,
  stdout: json ? JSON.stringify({ error: { code, message } }) + '\n' : `countersign approver ${command}: ${message}\n`,
});

/** Null when every role is one config defines; otherwise what is wrong and the closest known name. */
function unknownRole(target: ApproverTarget, roles: string[]): string | null {
  const known = Object.keys(target.config.roles);
  for (const role of roles) {
    if (role === 'owner') return 'role "owner" is built in (each agent\'s owner); it cannot be granted';
    if (!known.includes(role)) {
      const near = closest(role, known);
      const where = target.configPath ?? 'countersign.yaml';
      const hint = near ? `did you mean "${near}"?` : known.length ? `known roles: ${known.join(', ')}` : 'no roles are defined yet';
      return `role "${role}" is not defined under roles: in ${where}; ${hint} (add it there to create it)`;
    }
  }
  return null;
}

async function find(target: ApproverTarget, email: string): Promise<ApproverView | null> {
  return (await target.admin.send('kernel', { op: 'approver.get', email, approverId: null })) as unknown as ApproverView | null;
}

/** The roles an email holds from either source, for messages. */
function rolesOf(target: ApproverTarget, email: string, granted: readonly string[]): string[] {
  const listed = Object.entries(target.config.roles).filter(([, emails]) => emails.map((e) => e.toLowerCase()).includes(email)).map(([r]) => r);
  return [...new Set([...listed, ...granted])].sort();
}

/** `approver grant EMAIL ROLE...`: the person may approve what those roles approve (once they hold a passkey). */
export async function approverGrant(target: ApproverTarget, options: { email: string; roles: string[]; json?: boolean; cli: string }) {
  return change(target, { ...options, grant: options.roles, revoke: [] }, 'grant');
}

/** `approver revoke EMAIL ROLE...`: takes granted roles away; a role config lists them under stays until config changes. */
export async function approverRevoke(target: ApproverTarget, options: { email: string; roles: string[]; json?: boolean; cli: string }) {
  const email = options.email.trim().toLowerCase();
  const listed = options.roles.filter((r) => (target.config.roles[r] ?? []).map((e) => e.toLowerCase()).includes(email));
  if (listed.length) {
    const where = target.configPath ?? 'countersign.yaml';
    return fail(options.json, 'revoke', 'listed_in_config', `${email} is listed under roles.${listed[0]} in ${where}; remove the line there and restart the server`);
  }
  return change(target, { ...options, grant: [], revoke: options.roles }, 'revoke');
}

async function change(
  target: ApproverTarget,
  options: { email: string; grant: string[]; revoke: string[]; json?: boolean; cli: string },
  command: 'grant' | 'revoke',
): Promise<CommandOutput> {
  const roles = [...options.grant, ...options.revoke];
  const problem = unknownRole(target, roles);
  if (problem) return fail(options.json, command, 'unknown_role', problem);
  let after: ApproverView;
  try {
    after = (await target.admin.send('kernel', { op: 'approver.roles', email: options.email, grant: options.grant, revoke: options.revoke })) as unknown as ApproverView;
  } catch (error) {
    if (error instanceof KernelError && error.code === 'bad_request') return fail(options.json, command, error.code, error.message);
    throw error;
  }
  const all = rolesOf(target, after.email, after.roles);
  const enrolled = after.passkeys.length > 0;
  if (options.json) return { exitCode: 0, stdout: JSON.stringify({ email: after.email, roles: all, granted: after.roles, enrolled }) + '\n' };
  const verb = command === 'grant' ? `now has role${roles.length > 1 ? 's' : ''} ${roles.join(', ')}` : `no longer has role${roles.length > 1 ? 's' : ''} ${roles.join(', ')}`;
  const lines = [`${after.email} ${verb} (roles: ${all.length ? all.join(', ') : 'none'}).`];
  if (!enrolled) lines.push(`${after.email} has no passkey yet, so cannot approve anything. Enrollment link: ${options.cli} approver invite ${after.email}`);
  return { exitCode: 0, stdout: lines.join('\n') + '\n' };
}

/**
 * `approver invite EMAIL [--role ROLE]`: an enrollment link for someone without a passkey. For someone already enrolled
 * a link would only offer a second passkey, so with --role it grants the role at once instead.
 */
export async function approverInviteOrGrant(target: ApproverTarget, options: { email: string; role?: string; json?: boolean; cli: string }) {
  if (options.role) {
    const problem = unknownRole(target, [options.role]);
    if (problem) return fail(options.json, 'invite', 'unknown_role', problem);
  }
  const existing = await find(target, options.email.trim().toLowerCase()).catch(() => null);
  if (existing && existing.passkeys.length > 0 && options.role) return approverGrant(target, { email: options.email, roles: [options.role], json: options.json, cli: options.cli });
  return approverInvite(target.database.db, target.publicUrl, { email: options.email, role: options.role ?? null, json: options.json });
}

/** `approver list`: everyone who holds a role or a passkey, with where each role comes from. */
export async function approverList(target: ApproverTarget, options: { json?: boolean }): Promise<CommandOutput> {
  const stored = await target.database.db.select({ email: schema.approvers.email }).from(schema.approvers);
  const emails = new Set([...Object.values(target.config.roles).flat().map((e) => e.toLowerCase()), ...stored.map((r) => r.email)]);
  const people = await Promise.all([...emails].sort().map(async (email) => ({ email, view: await find(target, email) })));
  const rows = people.map(({ email, view }) => ({
    email,
    roles: rolesOf(target, email, view?.roles ?? []),
    configRoles: rolesOf(target, email, []),
    enrolled: (view?.passkeys.length ?? 0) > 0,
  }));
  if (options.json) return { exitCode: 0, stdout: JSON.stringify({ approvers: rows }) + '\n' };
  const lines = rows.map((r) => `${r.email.padEnd(32)} ${(r.roles.join(', ') || '-').padEnd(28)} ${r.enrolled ? 'passkey' : 'no passkey yet'}`);
  return { exitCode: 0, stdout: `${'EMAIL'.padEnd(32)} ${'ROLES'.padEnd(28)} ENROLLED\n${lines.join('\n')}\n` };
}
