import type { Approver } from '../kernel-client.ts';
import type { People } from './reader.ts';
import type { OAuthConnection } from '../oauth-store.ts';
import { Host } from '../views/value.tsx';
import { Inline } from '../views/value.tsx';

const when = (iso: string | null) => (iso ? iso.replace('T', ' ').slice(0, 16) : 'never');

/** The later of two ISO times (an OAuth connection's last use is kept beside the agent's). */
const lastUse = (a: string | null, b: string | null) => (a && b ? (a > b ? a : b) : (a ?? b));

/** One app, as it named itself at consent, and where it sends people back to. */
function App(props: { app: { clientName: string; redirectHost: string } }) {
  const { app } = props;
  return (
    <>
      {app.clientName ? <Inline text={app.clientName} /> : <em>no name given</em>}
      {app.redirectHost ? (
        <>
          {' '}
          · returns to <Host host={app.redirectHost} />
        </>
      ) : null}
    </>
  );
}

/** The apps acting as an OAuth connection's agent now (each through its own live grant); several may share one agent. */
function Connection(props: { connection: OAuthConnection }) {
  const { connection } = props;
  if (connection.apps.length === 0) {
    return (
      <div class="connection">
        No app connected now (its grant was revoked or expired); last connected: <App app={connection} />
      </div>
    );
  }
  return (
    <div class="connection">
      {connection.apps.map((app) => (
        <div class="app" data-client={app.clientId}>
          Connected app: <App app={app} />
        </div>
      ))}
    </div>
  );
}

/** Who may revoke an agent's token from the web: its owner, or an approver with the `admin` role. */
export function mayRevoke(approver: Approver, agent: { owner: string }): boolean {
  return approver.effectiveRoles.includes('admin') || approver.email.toLowerCase() === agent.owner.toLowerCase();
}

/**
 * Agents and approvers with their last activity. Revoke and Remove buttons appear only where the signed-in approver
 * may act, and each asks for a fresh passkey assertion (approval-web/audit/client/people.ts).
 */
export function PeopleView(props: { people: People; me: Approver; connections?: OAuthConnection[] }) {
  const { agents, approvers } = props.people;
  const connections = new Map((props.connections ?? []).map((c) => [c.agentName, c]));
  const live = props.me.passkeys.length;
  return (
    <section>
      <h1>Agents and approvers</h1>
      <div id="status" role="status" aria-live="polite" hidden></div>
      <h2>Agents</h2>
      {agents.length === 0 ? <p class="empty">No agents yet. Add one with `countersign agent add NAME --owner EMAIL`.</p> : null}
      <ul class="people" id="agents">
        {agents.map((a) => (
          <li data-agent={a.name}>
            <div class={a.revokedAt ? 'revoked' : ''}>
              <strong>
                <Inline text={a.name} />
              </strong>{' '}
              · owner <Inline text={a.owner} />
            </div>
            {connections.has(a.name) ? <Connection connection={connections.get(a.name)!} /> : null}
            <div class="empty">
              Last seen {when(lastUse(a.lastSeenAt, connections.get(a.name)?.lastUsedAt ?? null))} · last request {when(a.lastRequestAt)} · added {when(a.createdAt)}
            </div>
            {a.revokedAt ? (
              <div>{connections.has(a.name) ? 'Disconnected' : 'Token revoked'} {when(a.revokedAt)}</div>
            ) : mayRevoke(props.me, a) ? (
              <button type="button" class="danger" data-action="revoke" data-target={a.name}>
                {connections.has(a.name) ? 'Disconnect' : 'Revoke'} <Inline text={a.name} />
              </button>
            ) : null}
          </li>
        ))}
      </ul>
      <h2>Approvers</h2>
      <ul class="people" id="approvers">
        {approvers.map((p) => (
          <li data-approver={p.email}>
            <div>
              <strong>
                <Inline text={p.email} />
              </strong>{' '}
              {p.roles.length > 0 ? <>· roles: <Inline text={p.roles.join(', ')} /></> : ''}
            </div>
            <div class="empty">Last decision {when(p.lastDecisionAt)}</div>
            <ul>
              {p.passkeys.map((k) => (
                <li class={k.removedAt ? 'revoked' : ''} data-passkey={k.id}>
                  Passkey "<Inline text={k.name} />" added {when(k.createdAt)}, last used {when(k.lastUsedAt)}
                  {k.removedAt ? ` · removed ${when(k.removedAt)}` : ''}
                  {!k.removedAt && p.id === props.me.id && live > 1 ? (
                    <button type="button" class="secondary" data-action="remove" data-target={k.id}>
                      Remove this passkey
                    </button>
                  ) : null}
                </li>
              ))}
              {p.devices.map((d) => (
                <li class={d.removedAt ? 'revoked' : ''}>
                  Paired device "<Inline text={d.name} />" since {when(d.pairedAt)}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ul>
    </section>
  );
}
