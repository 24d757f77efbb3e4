import type { RequestView } from '../../kernel/index.ts';
import { Value } from './value.tsx';

/** One request in a list: what it does, who asks, which rule sent it here, and how long it waits (or how it ended). */
export function RequestCard(props: { request: RequestView }) {
  const { request } = props;
  const expiresAt = request.body?.expiresAt ?? '';
  return (
    <li data-id={request.id} data-state={request.state}>
      <a href={`/requests/${encodeURIComponent(request.id)}`}>
        <div class="summary">
          <Value text={request.intent?.summary ?? '(no summary)'} />
        </div>
        <div class="meta">
          <span>
            Agent: {request.body?.principal?.agentName ?? 'unknown'}
          </span>
          <span>Rule: {request.verdict?.ruleId ?? 'default'}</span>
          {request.state === 'pending' ? (
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
