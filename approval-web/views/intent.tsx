import type { Json, RequestView } from '../../kernel/index.ts';
import { FieldValue, JsonValue, Value } from './value.tsx';

/**
 * The body of an approval page: the canonical intent as the connector's trusted code described it, who asks and why
 * policy sent it here, and, set apart, the agent's own words. Every value goes through <Value>/<FieldValue>.
 */

const CONSEQUENCE: Record<string, string> = {
  reads: 'Reads data',
  writes: 'Writes data',
  'moves-money': 'Moves money',
  'changes-code': 'Changes code',
  deploys: 'Deploys',
  'grants-access': 'Grants access',
  'shares-secret': 'Shares a secret',
  deletes: 'Deletes',
};

export function approvalsCount(request: RequestView): { approved: number; required: number } {
  const approved = new Set(request.approvals.filter((a) => a.decision === 'approve').map((a) => a.approverId)).size;
  return { approved, required: request.verdict.approvers?.count ?? 1 };
}

/** "1 of 2 approvals", with who must approve. */
export function quorumLine(request: RequestView): string {
  const { approved, required } = approvalsCount(request);
  const role = request.verdict.approvers?.role;
  const who = !role || role === 'owner' ? "the agent's owner" : `role ${role}`;
  return `${approved} of ${required} approval${required === 1 ? '' : 's'} (from ${who})`;
}

export function IntentDetails(props: { request: RequestView }) {
  const { request } = props;
  const { intent, body, verdict } = request;
  const pins = Object.entries(intent.pins ?? {});
  const args = Object.entries(body.args ?? {});
  return (
    <>
      <p class="badges">
        <span class={`badge consequence-${intent.consequence}`}>{CONSEQUENCE[intent.consequence] ?? intent.consequence}</span>
        <span class={intent.reversible ? 'badge' : 'badge irreversible'} id="reversible">
          {intent.reversible ? 'Can be undone' : 'Cannot be undone'}
        </span>
        {intent.sandbox ? <span class="badge sandbox">SANDBOX</span> : null}
      </p>

      <dl class="fields" id="fields">
        {intent.fields.map((field) => (
          <div class="field" data-kind={field.kind}>
            <dt>
              <Value text={field.label} />
            </dt>
            <dd>
              <FieldValue field={field} />
            </dd>
          </div>
        ))}
      </dl>

      <h2>Who asks, and why you</h2>
      <dl class="fields" id="why">
        <div class="field">
          <dt>Agent</dt>
          <dd>
            <Value text={body.principal.agentName} />
          </dd>
        </div>
        <div class="field">
          <dt>Agent's owner</dt>
          <dd>
            <Value text={body.principal.owner} />
          </dd>
        </div>
        <div class="field">
          <dt>Policy rule</dt>
          <dd id="rule">
            <Value text={verdict.ruleId ?? 'default (no rule matched)'} />
          </dd>
        </div>
        <div class="field">
          <dt>Why it needs approval</dt>
          <dd>
            <Value text={verdict.reason} />
          </dd>
        </div>
      </dl>

      {intent.agentText && intent.agentText.length > 0 ? (
        <section class="agent-words" id="agent-words" aria-label="Written by the agent — not verified">
          <h2>Written by the agent — not verified</h2>
          <p class="hint">The agent wrote this. Countersign did not check it; do not follow instructions in it.</p>
          {intent.agentText.map((item) => (
            <div class="agent-text">
              <h3>
                <Value text={item.label} />
              </h3>
              <Value text={item.text} block />
            </div>
          ))}
        </section>
      ) : null}
      <h2>Pins: what must still be true when it runs</h2>
      {pins.length === 0 ? (
        <p class="empty">No pins.</p>
      ) : (
        <JsonFields id="pins" entries={pins} />
      )}

      <details class="exact" id="exact">
        <summary>Exact request (arguments, tool, digest)</summary>
        <h3>Arguments</h3>
        <JsonFields id="args" entries={args} />
        <h3>Tool and digest</h3>
        <p>
          <code>{body.tool}</code>
        </p>
        <p>
          <code id="digest">{request.digest}</code>
        </p>
      </details>
    </>
  );
}

/** Keys and JSON values (pins, arguments) as a labelled list; every key and value goes through display hygiene. */
function JsonFields({ id, entries }: { id: string; entries: [string, Json][] }) {
  return (
    <dl class="fields" id={id}>
      {entries.map(([key, value]) => (
        <div class="field">
          <dt>
            <Value text={key} />
          </dt>
          <dd>
            <JsonValue value={value} />
          </dd>
        </div>
      ))}
    </dl>
  );
}
