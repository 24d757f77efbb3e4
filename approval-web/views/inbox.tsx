import type { RequestView } from '../../kernel/index.ts';
import { RequestCard } from './request-card.tsx';

/**
 * The inbox list, grouped by urgency (what expires first comes first), and its history; rendered into the page and,
 * on live updates, into /inbox/fragment.
 */

const GROUPS: { id: string; title: string; within: number }[] = [
  { id: 'soon', title: 'Expiring within 15 minutes', within: 15 * 60_000 },
  { id: 'today', title: 'Expiring within a day', within: 24 * 3_600_000 },
  { id: 'later', title: 'Later', within: Infinity },
];

function groupsOf(pending: RequestView[], now: number): { id: string; title: string; requests: RequestView[] }[] {
  const expires = (r: RequestView) => Date.parse(r.body?.expiresAt ?? '') || Infinity;
  const sorted = [...pending].sort((a, b) => expires(a) - expires(b));
  // A request whose outcome nobody could tell waits for its owner first: nothing else can move it on.
  const check = sorted.filter((r) => r.state !== 'pending');
  const waiting = sorted.filter((r) => r.state === 'pending');
  const groups = [{ id: 'check', title: 'Did it run? Check upstream', requests: check }];
  let from = -Infinity;
  for (const group of GROUPS) {
    groups.push({ id: group.id, title: group.title, requests: waiting.filter((r) => expires(r) - now > from && expires(r) - now <= group.within) });
    from = group.within;
  }
  return groups.filter((g) => g.requests.length > 0);
}

export function InboxBody(props: { pending: RequestView[]; history: RequestView[]; now?: number }) {
  const { pending, history } = props;
  return (
    <div id="inbox-body">
      {pending.length === 0 ? (
        <p class="empty" id="inbox-empty">
          Nothing is waiting for your approval. When an agent asks for something that needs you, it appears here.
        </p>
      ) : (
        <div class="inbox-groups" id="inbox">
          {groupsOf(pending, props.now ?? Date.now()).map((group) => (
            <section class="group" id={`group-${group.id}`} aria-labelledby={`group-${group.id}-title`}>
              <h2 id={`group-${group.id}-title`}>
                {group.title} <span class="count">({group.requests.length})</span>
              </h2>
              <ul class="inbox">
                {group.requests.map((request) => (
                  <RequestCard request={request} />
                ))}
              </ul>
            </section>
          ))}
        </div>
      )}
      {history.length > 0 ? (
        <>
          <h2>History</h2>
          <ul class="inbox history" id="history">
            {history.map((request) => (
              <RequestCard request={request} />
            ))}
          </ul>
        </>
      ) : null}
    </div>
  );
}
