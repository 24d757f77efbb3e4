import { inspect, truncate, type Flag } from '../hygiene.ts';

/**
 * What a notification says: the request's summary and its link, nothing else (no arguments, no agent text, no
 * secrets). Hidden characters in the summary become visible escapes here too, and Slack's control characters are
 * escaped so a summary cannot turn into a link or a mention.
 */

export interface ApprovalRequested {
  requestId: string;
  summary: string;
  url: string;
}

/**
 * The summary as notifications show it, through the same hygiene as the approval page: hidden characters escaped,
 * what was found named in words, at most 300 characters with a marker (the link shows it whole).
 */
export function notificationSummary(summary: string): string {
  const cut = truncate(summary, 300);
  const shown = inspect(cut.head).pieces.map((piece) => piece.text).join('');
  const flags = inspect(summary).flags;
  const warning = flags.length ? ` ⚠ ${flags.map((flag) => FLAG_WORDS[flag]).join('; ')}: check it on the approval page` : '';
  return (cut.hidden > 0 ? `${shown}… [${cut.hidden} more characters]` : shown) + warning;
}

/** Short words for each flag, for messages too small for FLAG_TEXT's sentences. */
const FLAG_WORDS: Record<Flag, string> = {
  bidi: 'direction-changing characters', invisible: 'invisible characters', tag: 'tag characters', control: 'control characters',
  separator: 'line separators', 'variation-selector': 'variation selectors', unassigned: 'unassigned characters',
  'line-break': 'line breaks', space: 'unusual spaces', 'mixed-script': 'mixed scripts', confusable: 'look-alike letters',
  'not-https': 'not https', 'bad-url': 'invalid URL', 'bad-amount': 'unreadable amount',
};

/** Slack's mrkdwn escaping: `&`, `<` and `>` are the only characters it interprets for links and mentions. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The JSON body a Slack-compatible incoming webhook accepts: `text` (the fallback every client shows) and one
 * section block with a link button-free mrkdwn link.
 * @example webhookBody({ requestId: 'r1', summary: 'Refund 120.00 USD', url: 'https://cs.example/requests/r1' })
 * // { text: 'Refund 120.00 USD — approve at https://cs.example/requests/r1', blocks: [...] }
 */
export function webhookBody(notice: ApprovalRequested): { text: string; blocks: { type: 'section'; text: { type: 'mrkdwn'; text: string } }[] } {
  const summary = slackEscape(notificationSummary(notice.summary));
  return {
    text: `${summary} — approve at ${notice.url}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*Approval needed*\n${summary}\n<${notice.url}|Open in Countersign to approve or reject>` } }],
  };
}

/** The Web Push payload the service worker shows. */
export function pushPayload(notice: ApprovalRequested): string {
  return JSON.stringify({ title: 'Approval needed', body: notificationSummary(notice.summary), url: notice.url });
}
