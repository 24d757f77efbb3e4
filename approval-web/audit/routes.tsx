import { Hono, type Context } from 'hono';
import { KernelError, type KernelMessage, type Port } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import { problem } from '../problem.tsx';
import { ceremonyReply, readJson } from '../routes/body.ts';
import { requireApprover } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { relyingParty } from '../webauthn.ts';
import { bundleAuditAssets, serveAuditAsset, type AuditAssets } from './assets.ts';
import { Charts } from './charts.tsx';
import { mayRevoke, PeopleView } from './people.tsx';
import { auditReader, type ChainStatus, type RequestFilter } from './reader.ts';
import { action, reauthOptions, verifyReauth } from './reauth.ts';
import { TimelineView } from './timeline.tsx';
import { AuditShell, ChainBanner, FilterForm, RequestTable, Summary } from './views.tsx';

// A phone screenful or two of cards per page; "Older" pages on.
const PAGE = 20;
const DAY = 86_400_000;
const FILTER_KEYS = ['agent', 'tool', 'decision', 'state', 'from', 'to', 'q'] as const;

/** `datetime-local` sends a zone-less time; the form labels it UTC, so it is read as UTC. */
function utc(value: string): string {
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value) ? `${value.length === 16 ? `${value}:00` : value}Z` : value;
}

function readFilter(c: Context<WebEnv>): { filter: RequestFilter; raw: Record<string, string> } {
  const raw: Record<string, string> = {};
  const filter: Record<string, string> = {};
  for (const key of FILTER_KEYS) {
    const value = (c.req.query(key) ?? '').trim();
    if (!value) continue;
    raw[key] = value;
    filter[key] = key === 'from' || key === 'to' ? utc(value) : value;
  }
  return { filter: filter as RequestFilter, raw };
}

function withQuery(path: string, params: Record<string, string>): string {
  const query = new URLSearchParams(params).toString();
  return query ? `${path}?${query}` : path;
}

/** The chart window: the filter's time range when given, else the last 24 hours; never more than 31 days. */
function chartWindow(filter: RequestFilter): { from: string; to: string } {
  const to = filter.to && !Number.isNaN(Date.parse(filter.to)) ? Date.parse(filter.to) : Math.ceil(Date.now() / 3_600_000) * 3_600_000;
  let from = filter.from && !Number.isNaN(Date.parse(filter.from)) ? Date.parse(filter.from) : to - DAY;
  if (from >= to) from = to - DAY;
  if (to - from > 31 * DAY) from = to - 31 * DAY;
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString() };
}

/** The role that reads the whole audit trail and every person; it decides nothing by itself. */
export const AUDITOR = 'auditor';
const isAuditor = (approver: { effectiveRoles: string[] }) => approver.effectiveRoles.includes(AUDITOR);

/**
 * The audit dashboard under /audit: request list with filters and charts, request timelines, agents and approvers.
 * The list and the timelines (arguments, customers' emails) are for the `auditor` role only; the people page shows
 * auditors everyone, and anyone else their own passkeys and their own agents. Revoking an agent or removing a
 * passkey needs a fresh passkey assertion.
 * @example app.route('/audit', auditRoutes(deps, options.port));
 */
export function auditRoutes(deps: WebDeps, port: Port): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const reader = auditReader(port);
  // The two kernel ops these pages send; the web app's kernel client covers the rest.
  const send = (message: KernelMessage) => port.send('kernel', message);
  const rp = relyingParty(deps.publicUrl);
  const assets: Promise<AuditAssets> = bundleAuditAssets();
  assets.catch((error: unknown) => console.error(`audit pages: bundling client files failed: ${(error as Error).message}`));

  app.get('/assets/:name', async (c) => serveAuditAsset(c, await assets, c.req.param('name')));
  app.use('*', requireApprover);

  /** Renders an audit page with its banner; a failing status check shows in the banner, not as a broken page. */
  async function page(c: Context<WebEnv>, title: string, body: unknown, script = false) {
    const fresh = c.req.query('recheck') === '1';
    let status: ChainStatus | null = null;
    let error: string | undefined;
    try {
      status = await reader.status(fresh);
    } catch (e) {
      error = (e as Error).message;
    }
    const params = Object.fromEntries(Object.entries(c.req.queries()).map(([k, v]) => [k, v[0] ?? '']));
    const recheckUrl = withQuery(c.req.path, { ...params, recheck: '1' });
    const { stylesheet, script: src, times } = await assets;
    const nonce = c.var.secureHeadersNonce;
    return render(
      c,
      { title },
      <AuditShell stylesheet={stylesheet} nonce={nonce} banner={<ChainBanner status={status} recheckUrl={recheckUrl} error={error} />}>
        {body as never}
        {script ? <script type="module" src={src} nonce={nonce}></script> : null}
        <script type="module" src={times} nonce={nonce}></script>
      </AuditShell>,
    );
  }

  function failure(c: Context<WebEnv>, error: unknown) {
    if (error instanceof KernelError && error.code === 'bad_request') return problem(c, 400, 'bad_request', error.message);
    if (error instanceof KernelError && error.code === 'capability_refused') {
      return problem(c, 502, 'audit_unavailable', 'The audit service is not running in this gateway, so the dashboard cannot read the history. Restart Countersign with `countersign start`.');
    }
    throw error;
  }

  const NOT_AUDITOR =
    'The audit trail is for people with the auditor role: it shows every request, with its arguments. Ask an operator to add your email under roles: auditor in countersign.yaml. Your own requests are in your inbox, and your agents and passkeys under /audit/people.';
  app.use('/', async (c, next) => (isAuditor(c.var.approver!) ? next() : problem(c, 403, 'not_auditor', NOT_AUDITOR)));
  app.use('/requests/*', async (c, next) => (isAuditor(c.var.approver!) ? next() : problem(c, 403, 'not_auditor', NOT_AUDITOR)));

  app.get('/', async (c) => {
    const { filter, raw } = readFilter(c);
    const after = c.req.query('after') || null;
    try {
      const [list, stats] = await Promise.all([reader.requests(filter, after, PAGE), reader.stats(chartWindow(filter).from, chartWindow(filter).to)]);
      const olderUrl = list.next ? withQuery('/audit', { ...raw, after: list.next }) : null;
      return page(
        c,
        'Audit',
        <section>
          <h1>Audit</h1>
          <Summary stats={stats} />
          <details class="charts-box" id="activity" open>
            <summary>
              <h2>Activity</h2>
            </summary>
            <Charts stats={stats} />
          </details>
          <FilterForm filter={filter} raw={raw} />
          <h2 id="list-title">Requests{Object.keys(raw).length > 0 ? ' matching the filters' : ''}</h2>
          <RequestTable page={list} olderUrl={olderUrl} newestUrl={after ? withQuery('/audit', raw) : null} />
        </section>,
      );
    } catch (error) {
      return failure(c, error);
    }
  });

  app.get('/requests/:id', async (c) => {
    try {
      const timeline = await reader.timeline(c.req.param('id'));
      if (!timeline) return problem(c, 404, 'not_found', `There is no request ${c.req.param('id')}. Find it in the list at /audit.`);
      return page(c, 'Request timeline', <TimelineView timeline={timeline} />);
    } catch (error) {
      return failure(c, error);
    }
  });

  app.get('/people', async (c) => {
    try {
      const me = c.var.approver!;
      const everyone = await reader.people();
      // Least privilege: without the auditor role, a person sees themselves and the agents they own.
      const people = isAuditor(me)
        ? everyone
        : { ...everyone, agents: everyone.agents.filter((a) => a.owner.toLowerCase() === me.email.toLowerCase()), approvers: everyone.approvers.filter((p) => p.id === me.id) };
      const connections = await deps.store.oauth.connections();
      return page(c, 'Agents and approvers', <PeopleView people={people} me={me} connections={connections} />, true);
    } catch (error) {
      return failure(c, error);
    }
  });

  app.post('/people/options', async (c) => {
    const body = await readJson(c, action);
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    return c.json(await reauthOptions(deps, rp, c.var.approver!, body.value));
  });

  app.post('/people/confirm', async (c) => {
    const body = await readJson(c, ceremonyReply.extend(action.shape));
    if (!body.ok) return problem(c, 400, 'bad_request', body.message);
    const me = c.var.approver!;
    const { action: what, target } = body.value;
    try {
      if (what === 'revoke') {
        const agent = (await reader.people()).agents.find((a) => a.name === target && !a.revokedAt);
        if (!agent) return problem(c, 404, 'unknown_agent', `No active agent named "${target}". Reload the page to see current agents.`);
        if (!mayRevoke(me, agent)) return problem(c, 403, 'not_allowed', `Only ${agent.owner} (the agent's owner) or an admin may revoke ${target}.`);
      } else {
        if (!me.passkeys.some((k) => k.id === target)) return problem(c, 404, 'unknown_passkey', 'That passkey is not one of yours, or it was already removed. Reload the page.');
        if (me.passkeys.length < 2) return problem(c, 400, 'last_passkey', 'This is your only passkey: enroll another one before removing it, or you could not sign in again.');
      }
      await verifyReauth(deps, rp, me, { action: what, target }, body.value.challengeId, body.value.response);
      if (what === 'revoke') {
        await send({ op: 'agent.revoke', name: target, by: me.id });
        // An OAuth connection's tokens go with its agent: deleted now, not left to expire (the agent's revocation alone
        // already refuses them, and cancelled its pending requests in the same transaction).
        const oauth = await deps.store.oauth.revokeAccount(target);
        return c.json({ message: oauth > 0 ? `Disconnected ${target}: its tokens are refused from now on.` : `Agent ${target} is revoked: its token is refused from now on.` });
      }
      await send({ op: 'passkey.remove', credentialId: target, approverId: me.id });
      return c.json({ message: 'Passkey removed. It can no longer sign in or approve.' });
    } catch (error) {
      if (error instanceof KernelError && (error.code === 'evidence_refused' || error.code === 'unknown_agent' || error.code === 'bad_request')) {
        return problem(c, error.code === 'evidence_refused' ? 403 : 400, error.code, error.message);
      }
      throw error;
    }
  });

  return app;
}
