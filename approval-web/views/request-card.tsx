import type { RequestView } from '../../kernel/index.ts';

/** One pending request in a list: what it does, who asks, which rule sent it here, and how long it waits. */
export function RequestCard(props: { request: RequestView }) {
  const { request } = props;
  const expiresAt = request.body?.expiresAt ?? '';
  return (
    <li>
      <a href={`/requests/${encodeURIComponent(request.id)}`}>
        <div class="summary">{request.intent?.summary ?? '(no summary)'}</div>
        <div class="meta">
          <span>Agent: {request.body?.principal?.agentName ?? 'unknown'}</span>
          <span>Rule: {request.verdict?.ruleId ?? 'default'}</span>
          <time class="countdown" datetime={expiresAt} data-expires={expiresAt}>
            until {expiresAt}
          </time>
        </div>
      </a>
    </li>
  );
}
