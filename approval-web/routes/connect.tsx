import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { KernelError, type Port } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import type { ConnectRequest } from '../connect-flow.ts';
import { problem } from '../problem.tsx';
import { reauthOptions, verifyReauth } from '../audit/reauth.ts';
import { auditReader } from '../audit/reader.ts';
import { render } from '../views/layout.tsx';
import { Host, Inline, Value } from '../views/value.tsx';
import { relyingParty } from '../webauthn.ts';
import { ceremonyReply, readJson } from './body.ts';

/**
 * `/connect/:uid`: the consent page of the built-in OAuth authorization server (gateway/oauth/). It shows who is asking
 * (the client's own name, its id, where the browser goes back to, punycode and hygiene like every screen), what the
 * connection may do, and which agent it becomes; the person connects it with a fresh passkey assertion bound to this
 * connection and the agent it becomes: a new agent owned by that person (audited as agent.added), or one of their own
 * active agents (audited as agent.connected); both name the person and the client. The kernel refuses an agent they
 * do not own, whatever the page sent.
 */

const AGENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const UID = /^[A-Za-z0-9_-]{1,64}$/;
const agentField = z.object({
  agent: z.string().regex(AGENT_NAME, "an agent name is 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"),
  existing: z.boolean().default(false),
});
/** What the passkey assertion is bound to: this connection, and which agent it becomes (new or existing). */
const target = (uid: string, agent: { agent: string; existing: boolean }) => `${uid}:${agent.existing ? 'existing' : 'new'}:${agent.agent}`;

/** A name for the new agent from the client's name: "Claude" becomes "claude-3f9a". */
function suggestName(request: ConnectRequest): string {
  const base = (request.clientName ?? hostOf(request.clientId) ?? 'connection').toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'connection';
  return `${base}-${Math.random().toString(16).slice(2, 6)}`;
}

function hostOf(value: string): string | null {
  try {
    return /^https?:\/\//i.test(value) ? new URL(value).hostname : null;
  } catch {
    return null;
  }
}

function ConnectPage(props: { request: ConnectRequest; signedIn: string | null; suggested: string; mine: string[] }) {
  const { request, signedIn } = props;
  const redirectHost = hostOf(request.redirectUri);
  const idHost = request.metadataDocument ? hostOf(request.clientId) : null;
  return (
    <section class="connect" data-uid={request.uid}>
      <h1>Connect an app to Countersign?</h1>
      <dl class="fields" id="who-asks">
        <div class="field">
          <dt>App (its own name for itself)</dt>
          <dd id="client-name">{request.clientName ? <Inline text={request.clientName} /> : <em>The app gave no name.</em>}</dd>
        </div>
        <div class="field">
          <dt>{idHost ? 'Identified by a document at' : 'Registered with this server as'}</dt>
          <dd id="client-id">
            {idHost ? (
              <Host host={idHost} />
            ) : (
              <div class="registered-id">
                <Value text={request.clientId} />
              </div>
            )}
          </dd>
        </div>
        <div class="field">
          <dt>Sends you back to</dt>
          <dd id="redirect-host">
            {redirectHost ? <Host host={redirectHost} /> : null}
            <div class="full-address">
              <Value text={request.redirectUri} />
            </div>
          </dd>
        </div>
      </dl>
      {signedIn ? (
        <form id="connect-form" class="connect-form">
          <fieldset class="choice">
            <legend>It acts as</legend>
            <label class="option">
              <input type="radio" name="becomes" value="new" checked />
              <span>A new agent</span>
            </label>
            <label for="agent-name" class="sub">
              New agent's name
            </label>
            <input type="text" id="agent-name" name="agent" value={props.suggested} maxlength={64} pattern="[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}" autocomplete="off" required />
            {props.mine.length > 0 ? (
              <>
                <label class="option">
                  <input type="radio" name="becomes" value="existing" />
                  <span>An agent you already have</span>
                </label>
                <label for="existing-agent" class="sub">
                  Your agent
                </label>
                <select id="existing-agent" name="existing" aria-describedby="existing-note">
                  {props.mine.map((name) => (
                    <option value={name}>{name}</option>
                  ))}
                </select>
                <p id="existing-note" class="sub">
                  It shares that agent's name, policy and history. Disconnecting the app later revokes the whole agent, its other tokens too.
                </p>
              </>
            ) : null}
          </fieldset>
          <p class="muted">
            Owned by you, <Inline text={signedIn} />: its requests show this agent's name.
          </p>
        </form>
      ) : (
        <p>Sign in with your passkey to choose the agent this connection acts as.</p>
      )}
      <h2>What it will be able to do</h2>
      <ul id="can-do">
        <li>Call the tools at <code>{request.resource}</code> as an agent you own. What your policy sends for approval still waits for you or your approvers.</li>
        <li>It can never approve or reject a request, see your passkeys, or change your policy.</li>
        <li>You can disconnect it at any time under Agents; its tokens stop working at once.</li>
      </ul>
      {/* In thumb reach while the page is read, as on a request page. */}
      <section class="action-bar connect-actions" aria-label="Your answer">
        <div class="buttons">
          {signedIn ? (
            <button type="button" id="connect">
              Connect with passkey
            </button>
          ) : (
            <button type="button" id="sign-in">
              Sign in with passkey
            </button>
          )}
          <button type="button" id="deny" class="secondary">
            Deny
          </button>
        </div>
        <div id="status" role="status" aria-live="polite" hidden></div>
      </section>
    </section>
  );
}

export function connectRoutes(deps: WebDeps, port: Port): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const reader = auditReader(port);
  /** The active agents the signed-in person owns: the ones a connection may become instead of a new one. */
  const mine = async (email: string) =>
    (await reader.people()).agents.filter((a) => !a.revokedAt && a.owner.toLowerCase() === email.toLowerCase()).map((a) => a.name);
  const rp = relyingParty(deps.publicUrl);
  const gone = (c: Context<WebEnv>) =>
    problem(c, 410, 'connection_expired', 'This connection request is no longer open: it expired (they last 10 minutes), was already answered, or was started in another browser. Go back to the app you were connecting and start again.');

  /** The pending connection named in the path, as this browser started it; null answers for itself. */
  async function pending(c: Context<WebEnv>): Promise<ConnectRequest | Response> {
    const uid = c.req.param('uid') ?? '';
    if (!deps.connect) return problem(c, 404, 'not_found', 'This server does not run the built-in authorization server (auth: external in countersign.yaml).');
    if (!UID.test(uid)) return gone(c);
    return (await deps.connect.details(c.req.raw, uid)) ?? gone(c);
  }

  app.get('/connect/:uid', async (c) => {
    const request = await pending(c);
    if (request instanceof Response) return request;
    const me = c.var.approver;
    const page = <ConnectPage request={request} signedIn={me?.email ?? null} suggested={suggestName(request)} mine={me ? await mine(me.email) : []} />;
    return render(c, { title: 'Connect an app', script: 'connect' }, page);
  });

  app.post('/connect/:uid/options', async (c) => {
    const request = await pending(c);
    if (request instanceof Response) return request;
    const me = c.var.approver;
    if (!me) return problem(c, 403, 'signed_out', 'Sign in with your passkey first, then connect.');
    const body = await readJson(c, agentField);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    return c.json(await reauthOptions(deps, rp, me, { action: 'connect', target: target(request.uid, body.value) }));
  });

  app.post('/connect/:uid', async (c) => {
    const request = await pending(c);
    if (request instanceof Response) return request;
    const me = c.var.approver;
    if (!me) return problem(c, 403, 'signed_out', 'Sign in with your passkey first, then connect.');
    const body = await readJson(c, ceremonyReply.extend(agentField.shape));
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const { agent, existing } = body.value;
    try {
      await verifyReauth(deps, rp, me, { action: 'connect', target: target(request.uid, body.value) }, body.value.challengeId, body.value.response);
      await deps.kernel.addConnectionAgent(agent, me.email, me.id, request.clientId, existing);
    } catch (error) {
      if (error instanceof KernelError && error.code === 'unknown_agent') {
        return problem(c, 403, 'not_your_agent', `You have no active agent named "${agent}": a connection can become only an agent you own. Reload the page to see yours.`);
      }
      if (error instanceof KernelError && (error.code === 'evidence_refused' || error.code === 'bad_request')) {
        return problem(c, error.code === 'evidence_refused' ? 403 : 400, error.code, error.message);
      }
      throw error;
    }
    await deps.store.oauth.connect({ agentName: agent, clientId: request.clientId, clientName: request.clientName ?? '', redirectHost: hostOf(request.redirectUri) ?? '', approverId: me.id });
    return c.json({ redirect: await deps.connect!.approve(c.req.raw, request.uid, agent), agent });
  });

  app.post('/connect/:uid/deny', async (c) => {
    const request = await pending(c);
    if (request instanceof Response) return request;
    return c.json({ redirect: await deps.connect!.deny(c.req.raw, request.uid) });
  });

  return app;
}
