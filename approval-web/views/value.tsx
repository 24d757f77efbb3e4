import type { Child } from 'hono/jsx';
import type { IntentField, Json } from '../../kernel/index.ts';
import { FLAG_TEXT, displayUrl, formatMoney, inspect, truncate, type Flag } from '../hygiene.ts';

/**
 * Every untrusted string on a page goes through <Value>: hidden characters as visible escapes, flags in words, and
 * long values cut with a marker plus a <details> "Show all" that holds the complete value (works without script).
 * JSX escapes the text; nothing here builds HTML by hand.
 */

function Pieces(props: { text: string }): Child {
  const { pieces } = inspect(props.text);
  return pieces.map((piece) => (piece.escaped ? <span class="esc">{piece.text}</span> : piece.text));
}

function Flags(props: { flags: Flag[] }): Child {
  if (props.flags.length === 0) return null;
  return (
    <ul class="flags" role="note">
      {props.flags.map((flag) => (
        <li class="flag" data-flag={flag}>
          ⚠ {FLAG_TEXT[flag]}
        </li>
      ))}
    </ul>
  );
}

/** One untrusted value (a block element), whole or cut with "Show all (N characters)". `block` keeps line breaks. */
export function Value(props: { text: string; block?: boolean; extraFlags?: Flag[] }) {
  const { text } = props;
  const flags = [...new Set([...(props.extraFlags ?? []), ...inspect(text).flags])];
  const cut = truncate(text);
  return (
    <div class={props.block ? 'value block' : 'value'} dir="ltr" data-flags={flags.join(' ') || undefined}>
      <bdi class="shown">
        <Pieces text={cut.head} />
      </bdi>
      {cut.hidden > 0 ? (
        <>
          <span class="truncated">
            {` … [cut here: ${cut.hidden.toLocaleString('en-US')} more characters not shown above]`}
          </span>
          <details class="show-all">
            <summary>Show all ({cut.total.toLocaleString('en-US')} characters)</summary>
            <div class="full">
              <Pieces text={text} />
            </div>
          </details>
        </>
      ) : null}
      <Flags flags={flags} />
    </div>
  );
}

/** Any JSON value: strings as they are, everything else as compact JSON, both through <Value>. */
export function JsonValue(props: { value: Json | undefined }) {
  const { value } = props;
  return <Value text={typeof value === 'string' ? value : JSON.stringify(value ?? null)} />;
}

/** A commit shows its short form, with the full SHA one tap away. */
function Commit(props: { sha: string }) {
  const sha = props.sha;
  if (sha.length <= 12) return <Value text={sha} />;
  return (
    <details class="commit">
      <summary>
        <code>{sha.slice(0, 7)}</code> (show full)
      </summary>
      <Value text={sha} />
    </details>
  );
}

/** A labelled intent field rendered by its kind, so money, URLs and commits look the same on every screen. */
export function FieldValue(props: { field: IntentField }) {
  const { field } = props;
  const raw = String(field.value);
  switch (field.kind) {
    case 'money': {
      const money = formatMoney(field.value, field.currency);
      return <Value text={money.text} extraFlags={money.flags} />;
    }
    case 'url': {
      const url = displayUrl(raw);
      return (
        <div class="url">
          {url.hostname !== null ? (
            <div class="host">
              Host (punycode): <Value text={url.hostname} />
            </div>
          ) : null}
          <Value text={url.text} extraFlags={url.flags} />
        </div>
      );
    }
    case 'commit':
      return <Commit sha={raw} />;
    case 'number':
      return <Value text={typeof field.value === 'number' ? field.value.toLocaleString('en-US') : raw} />;
    default:
      return (
        <div class={`kind-${field.kind}`}>
          <Value text={raw} />
        </div>
      );
  }
}
