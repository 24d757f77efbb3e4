import type { Port } from '../kernel/index.ts';
import { auditReader } from './audit/reader.ts';
import type { KernelClient } from './kernel-client.ts';

/**
 * Who holds a role, so a request page can name everyone who may still decide it: the enrolled approvers (from the
 * audit reader's people list) whose effective roles, as the kernel reports them (config `roles` and the directory),
 * include it. Only messages, no table of the kernel's read directly; a gateway without the audit reader gives none,
 * and the page then names only those who decided. It informs; the kernel alone decides who may decide.
 */
export function roleMembers(port: Port, kernel: KernelClient): (role: string) => Promise<string[]> {
  const reader = auditReader(port);
  return async (role) => {
    let emails: string[];
    try {
      emails = (await reader.people()).approvers.map((a) => a.email);
    } catch {
      return [];
    }
    const approvers = await Promise.all(emails.map((email) => kernel.approverByEmail(email)));
    return approvers.filter((a) => a !== null && a.effectiveRoles.includes(role)).map((a) => a!.email).sort((a, b) => a.localeCompare(b));
  };
}
