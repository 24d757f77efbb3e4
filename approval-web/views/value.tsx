import type { Child } from 'hono/jsx';
import type { IntentField, Json } from '../../kernel/index.ts';
import { FLAG_TEXT, authorLine, displayUrl, formatMoney, inspect, truncate, type Flag } from '../hygiene.ts';

/**
 * Every untrusted string on a page goes through <Value>: hidden characters as visible escapes, flags in words, and
 * long values cut with a marker plus a <details> "Show all" that holds the complete value (works without script).
 * JSX escapes the text; nothing here builds HTML by hand.
 */

function Pieces(props: { text: string; multiline?: boolean }): Child {
  const { pieces } = inspect(props.text, { multiline: props.multiline ?? false });
  return pieces.map((piece) => (piece.escaped ? <span class="esc">{piece.text}</span> : breakable(piece.text)));
}

// Long identifiers (URLs, emails, branch names, charge ids) wrap after their separators instead of mid-token: a
// <wbr> adds a break opportunity and no text, so what is shown (and copied) stays exactly the value.
const IDENTIFIER = /^[A-Za-z0-9_.\/:@#?&=%+~-]{25,}$/;
const AFTER_SEPARATOR = /(?<=[_.\/:@#?&=-])(?=[A-Za-z0-9])/;

function breakable(text: string): Child {
  if (text.length < 25) return text;
  return text.split(/(\s+)/).map((token) => {
    if (!IDENTIFIER.test(token)) return token;
    const parts = token.split(AFTER_SEPARATOR);
    return parts.flatMap((part, i) => (i === 0 ? [part] : [<wbr />, part]));
  });
}

function Flags(props: { flags: Flag[] }): Child {
  if (props.flags.length === 0) return null;
  // The note wraps the list: role="note" on the <ul> itself would take its list role away and orphan its items (axe: listitem).
  return (
    <div role="note">
      <ul class="flags">
        {props.flags.map((flag) => (
          <li class="flag" data-flag={flag}>
            ⚠ {FLAG_TEXT[flag]}
          </li>
        ))}
      </ul>
    </div>
  );
}

/**
 * One untrusted value (a block element), whole or cut with "Show all (N characters)". `block` is free text: it keeps
 * line breaks and tabs; anything else is one line, where they are escaped like any hidden character.
 */
export function Value(props: { text: string; block?: boolean; extraFlags?: Flag[] }) {
  const { text } = props;
  const multiline = props.block ?? false;
  const flags = [...new Set([...(props.extraFlags ?? []), ...inspect(text, { multiline }).flags])];
  const cut = truncate(text);
  return (
    <div class={props.block ? 'value block' : 'value'} dir="ltr" data-flags={flags.join(' ') || undefined}>
      <bdi class="shown">
        <Pieces text={cut.head} multiline={multiline} />
      </bdi>
      {cut.hidden > 0 ? (
        <>
          <span class="truncated">
            {` … [cut here: ${cut.hidden.toLocaleString('en-US')} more characters not shown above]`}
          </span>
          <details class="show-all">
            <summary>Show all ({cut.total.toLocaleString('en-US')} characters)</summary>
            <div class="full">
              <Pieces text={text} multiline={multiline} />
            </div>
          </details>
        </>
      ) : null}
      <Flags flags={flags} />
    </div>
  );
}

/**
 * An untrusted value inside a sentence (a name, an email, an actor): escaped and flagged like <Value>, without
 * breaking the line. A value too long for a line becomes a <Value>, with its marker and "Show all".
 */
export function Inline(props: { text: string }) {
  const { text } = props;
  if (truncate(text).hidden > 0) return <Value text={text} />;
  const { flags } = inspect(text);
  return (
    <span class="value inline" dir="ltr" data-flags={flags.join(' ') || undefined}>
      <bdi class="shown">
        <Pieces text={text} />
      </bdi>
      {flags.map((flag) => (
        <span class="flag inline" data-flag={flag}>
          {` ⚠ ${FLAG_TEXT[flag]}`}
        </span>
      ))}
    </span>
  );
}

/** Stored data shown whole (inside a <details>): line breaks kept, hidden characters escaped and flagged. */
export function DataBlock(props: { text: string }) {
  const { flags } = inspect(props.text, { multiline: true });
  return (
    <div class="value block" data-flags={flags.join(' ') || undefined}>
      <pre class="data">
        <Pieces text={props.text} multiline />
      </pre>
      <Flags flags={flags} />
    </div>
  );
}

/** Any JSON value: strings as they are, everything else as compact JSON, both through <Value>. */
export function JsonValue(props: { value: Json | undefined }) {
  const { value } = props;
  return <Value text={typeof value === 'string' ? value : JSON.stringify(value ?? null)} />;
}

/**
 * A commit shows its short form and a "Copy" button for the whole SHA (client/approve.ts), with the full SHA one tap
 * away for reading. Anything that is not a hex SHA is shown whole, as any value.
 */
export function Commit(props: { sha: string }) {
  const sha = props.sha;
  if (!/^[0-9a-f]{40}$|^[0-9a-f]{64}$/i.test(sha)) return <Value text={sha} />;
  return (
    <div class="commit">
      <code class="short">{sha.slice(0, 7)}</code>
      <button type="button" class="copy" data-copy={sha} aria-label={`Copy the full commit ${sha}`}>
        Copy
      </button>
      <details class="commit-full">
        <summary>Full SHA</summary>
        <code>{sha}</code>
      </details>
    </div>
  );
}

/** A hostname as a host: in punycode (what the connection really goes to), said so when it is punycode. */
export function Host(props: { host: string }) {
  const shown = displayUrl(`https://${props.host}/`);
  const host = shown.hostname ?? props.host;
  return (
    <div class="kind-host">
      <Value text={host} extraFlags={shown.flags.filter((f) => f !== 'not-https')} />
      {/(^|\.)xn--/i.test(host) ? <div class="host-note">shown in punycode, as the connection sees it</div> : null}
    </div>
  );
}

/**
 * Upstream free text (a title, a customer name): quoted, as free text, so it never reads as Countersign's own words.
 * Its author is named in the field's label (`FieldLabel`).
 */
function Quoted(props: { text: string }) {
  return (
    <blockquote class="quoted">
      <Value text={props.text} block />
    </blockquote>
  );
}

/** A field's label, and for upstream text who wrote it: "Title", "written on GitHub by @octocat". */
export function FieldLabel(props: { field: IntentField }) {
  const { field } = props;
  const author = field.writtenBy && typeof field.writtenBy === 'object' ? field.writtenBy : null;
  return (
    <>
      <Value text={field.label} />
      {author ? (
        <div class="author">
          <Value text={authorLine(author)} />
        </div>
      ) : null}
    </>
  );
}

/** An email address; a domain that is not ASCII is shown in punycode too. */
function Email(props: { address: string }) {
  const at = props.address.lastIndexOf('@');
  const domain = at >= 0 ? props.address.slice(at + 1) : '';
  const ascii = /[^\x00-\x7f]/.test(domain) ? displayUrl(`https://${domain}/`).hostname : null;
  return (
    <div class="kind-email">
      <Value text={props.address} />
      {ascii ? (
        <div class="host">
          Domain (punycode): <Value text={ascii} />
        </div>
      ) : null}
    </div>
  );
}

/** A labelled intent field rendered by its kind, so money, URLs and commits look the same on every screen. */
export function FieldValue(props: { field: IntentField }) {
  const { field } = props;
  const raw = String(field.value);
  if (field.writtenBy && typeof field.writtenBy === 'object') return <Quoted text={raw} />;
  switch (field.kind) {
    case 'money': {
      const money = formatMoney(field.value, field.currency);
      return <Value text={money.text} extraFlags={money.flags} />;
    }
    case 'url': {
      const url = displayUrl(raw);
      return (
        <div class="url">
          <Value text={url.text} extraFlags={url.flags} />
          {url.hostname !== null && /(^|\.)xn--/i.test(url.hostname) ? (
            <div class="host">
              Host (punycode): <Value text={url.hostname} />
            </div>
          ) : null}
        </div>
      );
    }
    case 'commit':
      return <Commit sha={raw} />;
    case 'email':
      return <Email address={raw} />;
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
