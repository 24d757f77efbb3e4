import type { IntentField, Json, RequestView } from '../../kernel/index.ts';
import { fingerprint, formatMoney } from '../hygiene.ts';
import { PinFields } from './pins.tsx';
import { FieldLabel, FieldValue, Inline, JsonValue, Value } from './value.tsx';

/**
 * The body of an approval page. First the decision (`DecisionHead`): what kind of consequence, whether it can be
 * undone, the one number that matters, the connector's sentence and the key fields. Then the details, each a
 * collapsible section: every field, the agent's own words (set apart), the pins, who asks and why, and the exact
 * request with its digest. Every value goes through <Value>/<FieldValue>.
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
  unknown: 'Effect not described',
};

/** Consequences that get the warning colour on their chip. */
const RISKY = new Set(['moves-money', 'changes-code', 'deploys', 'grants-access', 'shares-secret', 'deletes', 'unknown']);

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

/** Free text longer than this is left to the details: a key field is read at a glance. */
const KEY_TEXT = 140;

/** The three or four fields read first: the connector's order, minus long free text, at most four. */
export function keyFields(fields: IntentField[]): IntentField[] {
  return fields.filter((f) => !(f.writtenBy && String(f.value).length > KEY_TEXT)).slice(0, 4);
}

/** The one number that matters: the first amount of money, formatted from minor units. */
function heroMoney(fields: IntentField[]): { field: IntentField; label: string; text: string } | null {
  const money = fields.find((f) => f.kind === 'money' && !f.writtenBy);
  if (!money) return null;
  const formatted = formatMoney(money.value, money.currency);
  return formatted.flags.length > 0 ? null : { field: money, label: money.label, text: formatted.text };
}

function Fields(props: { id: string; fields: IntentField[] }) {
  return (
    <dl class="fields" id={props.id}>
      {props.fields.map((field) => (
        <div class="field" data-kind={field.kind} data-author={field.writtenBy ? 'upstream' : undefined}>
          <dt>
            <FieldLabel field={field} />
          </dt>
          <dd>
            <FieldValue field={field} />
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** The first screen's content: chips, the number, the headline, the key fields, and the agent's first words. */
export function DecisionHead(props: { request: RequestView; status: unknown }) {
  const { request } = props;
  const { intent } = request;
  const hero = heroMoney(intent.fields);
  const key = keyFields(intent.fields.filter((f) => f !== hero?.field));
  // With few key fields, the agent's first words (an issue's title, a comment) are what the approver needs to see;
  // they stay in a box that says who wrote them.
  const said = key.length < 3 && intent.agentText?.[0] ? intent.agentText[0] : null;
  return (
    <header class="decision-head">
      <p class="chips">
        <span class={`chip consequence-${intent.consequence}${RISKY.has(intent.consequence) ? ' risky' : ''}`} id="consequence">
          {CONSEQUENCE[intent.consequence] ?? intent.consequence}
        </span>
        <span class={intent.reversible ? 'chip' : 'chip irreversible'} id="reversible">
          {intent.reversible ? 'Can be undone' : 'Cannot be undone'}
        </span>
        {intent.sandbox ? <span class="chip sandbox">SANDBOX</span> : null}
      </p>
      {hero ? (
        <p class="hero" id="hero">
          <span class="hero-label"><Inline text={hero.label} /></span> <span class="hero-number">{hero.text}</span>
        </p>
      ) : null}
      <h1 id="summary">
        <Value text={intent.summary} />
      </h1>
      {props.status}
      {key.length > 0 ? <Fields id="key-fields" fields={key} /> : null}
      {said ? (
        <div class="agent-key" id="agent-key">
          <p class="agent-key-label">
            <Inline text={said.label} /> <span class="by">— written by the agent, not verified</span>
          </p>
          <Value text={said.text} block />
        </div>
      ) : null}
    </header>
  );
}

/** The details under the first screen, each section collapsible; `progress` is who decides and what is still needed. */
export function IntentDetails(props: { request: RequestView; progress?: unknown }) {
  const { request } = props;
  const { intent, body, verdict } = request;
  const pins = Object.entries(intent.pins ?? {});
  const args = Object.entries(body.args ?? {});
  return (
    <div class="details">
      {props.progress}
      <details class="section" id="all-fields" open>
        <summary>
          <h2>What it does ({intent.fields.length} field{intent.fields.length === 1 ? '' : 's'})</h2>
        </summary>
        <Fields id="fields" fields={intent.fields} />
      </details>

      {intent.agentText && intent.agentText.length > 0 ? (
        <details class="section agent-words" id="agent-words" open>
          <summary>
            <h2>Written by the agent — not verified</h2>
          </summary>
          <p class="hint">The agent wrote this. Countersign did not check it; do not follow instructions in it.</p>
          {intent.agentText.map((item) => (
            <div class="agent-text">
              <h3>
                <Value text={item.label} />
              </h3>
              <Value text={item.text} block />
            </div>
          ))}
        </details>
      ) : null}

      <details class="section" id="pins-section" open>
        <summary>
          <h2>Pins: what must still be true when it runs</h2>
        </summary>
        {pins.length === 0 ? <p class="empty">No pins.</p> : <PinFields id="pins" intent={intent} />}
      </details>

      <details class="section" id="why-section">
        <summary>
          <h2>Who asks, and why you</h2>
        </summary>
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
      </details>

      <details class="section exact" id="exact">
        <summary>
          <h2>Exact request (arguments, tool, digest)</h2>
        </summary>
        <p>
          Fingerprint <strong class="fingerprint" id="fingerprint">{fingerprint(request.digest)}</strong>: a paired Passport shows the same one for
          this request.
        </p>
        <h3>Arguments</h3>
        <JsonFields id="args" entries={args} />
        <h3>Pins as signed</h3>
        <JsonFields id="raw-pins" entries={pins} />
        <h3>Tool and digest</h3>
        <p>
          <code>{body.tool}</code>
        </p>
        <p>
          <code id="digest">{request.digest}</code>
        </p>
      </details>
    </div>
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
