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

export function formatExplanation(tool: string, explanation: PolicyExplanation, pinsUnknown: boolean): string {
  const lines = [verdictLine(tool, explanation.verdict), '', 'rules considered:'];
  for (const step of explanation.trace) lines.push(`  ${step.matched ? 'MATCH' : 'skip '} ${step.ruleId}: ${step.why}`);
  if (explanation.trace.length === 0) lines.push('  (no rules)');
  lines.push('', 'offline: budgets are treated as unspent' + (pinsUnknown ? '; intent pins are unknown (pass --pins JSON to supply them)' : ''));
  return `${lines.join('\n')}\n`;
}

export function formatTest(result: TestResult): string {
  const lines = result.results.map((r) => (r.ok ? `PASS ${r.name}: ${r.got}` : `FAIL ${r.name}: expected ${r.expected}, got ${r.got} (${r.reason})`));
  lines.push('', `${result.passed} passed, ${result.failed.length} failed`);
  return `${lines.join('\n')}\n`;
}
