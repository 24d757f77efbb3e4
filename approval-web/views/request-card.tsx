import type { RequestView } from '../../kernel/index.ts';
import { authorLine, formatMoney, truncate } from '../hygiene.ts';
import { Inline, Value } from './value.tsx';

/**
 * One request in a list: what it does, the one thing that tells it apart from its neighbours (an amount, a quoted
 * title with its author, or the agent's first words, labelled as theirs), who asks, and how long it waits.
 */

/** Key text on a card is one glance long; the cut is marked and the request page shows all of it. */
const CARD_TEXT = 120;

function Short(props: { text: string }) {
  const cut = truncate(props.text, CARD_TEXT);
  return (
    <>
      <Inline text={cut.head} />
      {cut.hidden > 0 ? <span class="truncated">{` … [${cut.hidden.toLocaleString('en-US')} more characters: open the request to read all]`}</span> : null}
    </>
  );
}

/** The card's key line, or null when the summary is all there is. */
export function KeyLine(props: { request: RequestView }) {
  const intent = props.request.intent;
  if (!intent) return null;
  const money = intent.fields.find((f) => f.kind === 'money' && !f.writtenBy);
  if (money) {
    const formatted = formatMoney(money.value, money.currency);
    if (formatted.flags.length === 0) {
      return (
        <div class="key key-money">
          <span class="key-label">
            <Inline text={money.label} />
          </span>{' '}
          <strong>{formatted.text}</strong>
        </div>
      );
    }
  }
  const quoted = intent.fields.find((f) => f.writtenBy && typeof f.writtenBy === 'object');
  if (quoted?.writtenBy) {
    return (
      <div class="key key-quoted">
        <span class="key-label">
          <Inline text={quoted.label} />, <Inline text={authorLine(quoted.writtenBy)} />:
        </span>{' '}
        <q class="quoted-inline">
          <Short text={String(quoted.value)} />
        </q>
      </div>
    );
  }
  const said = intent.agentText?.[0];
  if (said) {
    return (
      <div class="key key-agent">
        <span class="key-label">
          <Inline text={said.label} />, written by the agent:
        </span>{' '}
        <q class="quoted-inline">
          <Short text={said.text} />
        </q>
      </div>
    );
  }
  return null;
}

export function RequestCard(props: { request: RequestView }) {
  const { request } = props;
  const expiresAt = request.body?.expiresAt ?? '';
  return (
    <li data-id={request.id} data-state={request.state}>
      <a href={`/requests/${encodeURIComponent(request.id)}`}>
        <div class="summary">
          <Value text={request.intent?.summary ?? '(no summary)'} />
        </div>
        <KeyLine request={request} />
        <div class="meta">
          <span>
            Agent: {request.body?.principal?.agentName ?? 'unknown'}
          </span>
          <span>Rule: {request.verdict?.ruleId ?? 'default'}</span>
          {request.error?.code === 'outcome_unknown' ? (
            <span class="state state-unknown">This may or may not have run: check upstream</span>
          ) : request.state === 'pending' ? (
            <time class="countdown" datetime={expiresAt} data-expires={expiresAt}>
              until {expiresAt}
            </time>
          ) : (
            <span class={`state state-${request.state}`}>{request.state}</span>
          )}
        </div>
      </a>
    </li>
  );
}
