import type { RequestView } from '../../kernel/index.ts';
import { RequestCard } from './request-card.tsx';

/** The inbox list and its history; rendered into the page and, on live updates, into /inbox/fragment. */
export function InboxBody(props: { pending: RequestView[]; history: RequestView[] }) {
  const { pending, history } = props;
  return (
    <div id="inbox-body">
      {pending.length === 0 ? (
        <p class="empty" id="inbox-empty">
          Nothing is waiting for your approval. When an agent asks for something that needs you, it appears here.
        </p>
      ) : (
        <ul class="inbox" id="inbox">
          {pending.map((request) => (
            <RequestCard request={request} />
          ))}
        </ul>
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
