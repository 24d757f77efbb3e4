import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { classifyAddress, isIpLiteral } from './address.ts';

/**
 * Server-side requests to URLs someone else chose (Web Push endpoints, webhooks, audit witnesses, OAuth client
 * metadata): https only, public addresses only, no redirects, bounded time and response. The address is checked
 * inside the connection's own DNS lookup, so the address that passed the check is the address connected to: a name
 * that answers "public" to the check and "127.0.0.1" a moment later (DNS rebinding) has no moment to do it in.
 *
 * @example
 * const post = egressFetch({ what: 'webhook' });
 * await post('https://hooks.slack.com/services/T0/B0/X', { method: 'POST', body: '{}' }); // a Response, or throws EgressRefused
 */

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface EgressPolicy {
  /** What the URL is, for messages: "push endpoint", "webhook". */
  what: string;
  /** Config said so for this URL: private addresses and plain http are allowed (a webhook on the local network). */
  allowPrivateNetwork?: boolean;
  /** DNS resolution (default: the system resolver, every address). Tests pass their own. */
  resolve?: Resolver;
}

/** A refused destination. `message` says what was wrong and what to do; `detail` is safe to audit (no URL path). */
export class EgressRefused extends Error {
  readonly code = 'egress_refused';
  constructor(message: string, readonly detail: string) {
    super(message);
    this.name = 'EgressRefused';
  }
}

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses))));

/** Parses and checks the scheme; does not resolve. */
function parseDestination(raw: string | URL, policy: EgressPolicy): URL {
  let url: URL;
  try {
    url = new URL(String(raw));
  } catch {
    throw new EgressRefused(`The ${policy.what} "${String(raw).slice(0, 100)}" is not a URL; give an https:// address.`, `${policy.what}: not a URL`);
  }
  const schemes = policy.allowPrivateNetwork ? ['https:', 'http:'] : ['https:'];
  if (!schemes.includes(url.protocol)) {
    throw new EgressRefused(
      `The ${policy.what} ${url.origin} must use https://; plain ${url.protocol.replace(':', '')} is refused so nothing on the way can read or change it.`,
      `${policy.what} ${url.host}: scheme ${url.protocol}`,
    );
  }
  if (url.username || url.password) throw new EgressRefused(`The ${policy.what} ${url.host} carries a user name or password in the URL; remove it.`, `${policy.what} ${url.host}: credentials in URL`);
  return url;
}

/** Resolves `hostname` and refuses unless every address is public (or the policy allows private networks). */
async function resolvePublic(hostname: string, policy: EgressPolicy): Promise<LookupAddress[]> {
  const bare = hostname.replace(/^\[|\]$/g, '');
  let addresses: LookupAddress[];
  if (isIpLiteral(bare)) addresses = [{ address: bare, family: bare.includes(':') ? 6 : 4 }];
  else {
    try {
      addresses = await (policy.resolve ?? systemResolver)(bare);
    } catch (error) {
      throw new EgressRefused(`The ${policy.what} host ${hostname} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'DNS error'}); check the name.`, `${policy.what} ${hostname}: does not resolve`);
    }
  }
  if (addresses.length === 0) throw new EgressRefused(`The ${policy.what} host ${hostname} has no address; check the name.`, `${policy.what} ${hostname}: no address`);
  if (policy.allowPrivateNetwork) return addresses;
  for (const { address } of addresses) {
    const verdict = classifyAddress(address);
    if (!verdict.public) {
      throw new EgressRefused(
        `The ${policy.what} host ${hostname} resolves to ${verdict.address} (${verdict.range}), which is not a public address; Countersign only connects to public addresses for a ${policy.what}.` +
          (policy.what === 'webhook' ? ' If this webhook is on your own network on purpose, set allowPrivateNetwork: true for it in countersign.yaml.' : ''),
        `${policy.what} ${hostname}: ${verdict.address} is ${verdict.range}`,
      );
    }
  }
  return addresses;
}

/** Checks a URL now (at registration, at config load): scheme, then every address it resolves to. */
export async function checkDestination(raw: string | URL, policy: EgressPolicy): Promise<URL> {
  const url = parseDestination(raw, policy);
  await resolvePublic(url.hostname, policy);
  return url;
}

/** A `lookup` for http.request that resolves and checks in one step, so the connection uses the checked address. */
export function pinnedLookup(policy: EgressPolicy): LookupFunction {
  return ((hostname: string, options: { all?: boolean; family?: number | string }, callback: (...args: unknown[]) => void) => {
    resolvePublic(hostname, policy).then(
      (addresses) => {
        const wanted = options.family === 4 || options.family === 6 ? addresses.filter((a) => a.family === options.family) : addresses;
        if (options.all) callback(null, wanted);
        else if (wanted[0]) callback(null, wanted[0].address, wanted[0].family);
        else callback(Object.assign(new Error(`no IPv${String(options.family)} address for ${hostname}`), { code: 'ENOTFOUND' }));
      },
      (error: unknown) => callback(error),
    );
  }) as unknown as LookupFunction;
}

export interface EgressInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal?: AbortSignal;
}

const RESPONSE_LIMIT = 64 * 1024;
const TIMEOUT_MS = 10_000;

/**
 * A fetch-shaped sender that only goes where the policy allows: scheme checked, every address checked at connect
 * time, redirects returned as they are (never followed), at most 64 KiB of response read, 10 s per request.
 */
export function egressFetch(policy: EgressPolicy): (raw: string | URL, init?: EgressInit) => Promise<Response> {
  return async (raw, init = {}) => {
    const url = parseDestination(raw, policy);
    if (isIpLiteral(url.hostname)) await resolvePublic(url.hostname, policy); // literals never reach `lookup`
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const signal = init.signal ? AbortSignal.any([init.signal, AbortSignal.timeout(TIMEOUT_MS)]) : AbortSignal.timeout(TIMEOUT_MS);
    return new Promise<Response>((resolve, reject) => {
      const req = send(url, { method: init.method ?? 'GET', headers: init.headers, lookup: pinnedLookup(policy), signal, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= RESPONSE_LIMIT) chunks.push(chunk);
          else res.destroy();
        });
        const done = () => {
          const status = res.statusCode ?? 502;
          const headers = new Headers();
          for (const [name, value] of Object.entries(res.headers)) if (typeof value === 'string') headers.set(name, value);
          // A Response cannot carry a body with 204/304; the caller only reads status and, at most, a short body.
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(new Response(body, { status: status < 200 || status > 599 ? 502 : status, headers }));
        };
        res.on('end', done);
        res.on('close', done);
        res.on('error', reject);
      });
      req.on('error', (error: unknown) => reject(error instanceof EgressRefused || (error as Error).cause instanceof EgressRefused ? ((error as Error).cause ?? error) : error));
      req.end(init.body === undefined ? undefined : Buffer.from(init.body));
    });
  };
}
