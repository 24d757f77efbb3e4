import type { PolicyExplanation, Verdict } from '../../kernel/index.ts';
import type { CheckResult, TestResult } from './policy.ts';

/** Human text for `countersign policy check|explain|test`; the `--json` forms print the results as they are. */

export function formatCheck(result: CheckResult): string {
  if (!result.ok) return `${result.message}\n`;
  return `${result.message}\nrules, in the order they are tried: ${result.rules.join(', ') || '(none: every call gets the default)'}\n`;
}

function seconds(total: number): string {
  if (total % 86_400 === 0) return `${total / 86_400}d`;
  if (total % 3600 === 0) return `${total / 3600}h`;
  if (total % 60 === 0) return `${total / 60}m`;
  return `${total}s`;
}

function verdictLine(tool: string, verdict: Verdict): string {
  const by = verdict.ruleId ? `rule ${verdict.ruleId}` : 'the default';
  const lines = [`${tool}: ${verdict.decision.toUpperCase()} by ${by}: ${verdict.reason}`];
  if (verdict.approvers) {
    const who = verdict.approvers.role === 'owner' ? "the agent's owner" : `role ${verdict.approvers.role}`;
    lines.push(`  needs ${verdict.approvers.count} approval${verdict.approvers.count === 1 ? '' : 's'} from ${who}, expires after ${seconds(verdict.expiresInSeconds ?? 3600)}`);
  }
  if (verdict.spend) lines.push(`  spends ${verdict.spend.amount} from the budget of rule ${verdict.spend.ruleId}`);
  return lines.join('\n');
}

/** `source` says where the verdict comes from; by default, offline from the file. */
export function formatExplanation(tool: string, explanation: PolicyExplanation, pinsUnknown: boolean, source?: string): string {
  const lines = [verdictLine(tool, explanation.verdict)];
  // Offline, a rule that reads intent.* fails for want of pins: that is not a broken rule, and the reader must know.
  const needsIntent = pinsUnknown ? explanation.trace.filter((step) => /\bintent\./.test(step.why) && /No such key/.test(step.why)).map((step) => step.ruleId) : [];
  if (needsIntent.length) {
    lines.push(
      `note: ${needsIntent.join(', ')} read${needsIntent.length === 1 ? 's' : ''} intent pins, which only a running server knows (the connector reads them upstream);`,
      '  offline that condition cannot be evaluated, so this verdict is not what a real call gets. Start the server (policy explain then asks it) or pass --pins JSON.',
    );
  }
  lines.push('', 'rules considered:');
  for (const step of explanation.trace) lines.push(`  ${step.matched ? 'MATCH' : 'skip '} ${step.ruleId}: ${step.why}`);
  if (explanation.trace.length === 0) lines.push('  (no rules)');
  lines.push('', source ?? 'offline: budgets are treated as unspent' + (pinsUnknown ? '; intent pins are unknown (pass --pins JSON to supply them)' : ''));
  return `${lines.join('\n')}\n`;
}

export function formatTest(result: TestResult): string {
  const lines = result.results.map((r) => (r.ok ? `PASS ${r.name}: ${r.got}` : `FAIL ${r.name}: expected ${r.expected}, got ${r.got} (${r.reason})`));
  lines.push('', `${result.passed} passed, ${result.failed.length} failed`);
  return `${lines.join('\n')}\n`;
}
