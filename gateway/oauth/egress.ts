import { checkDestination, egressFetch, EgressRefused, type EgressInit, type Resolver } from '../../net/egress.ts';

/**
 * How the authorization server fetches a Client ID Metadata Document: the same rules as webhooks and push (net/egress.ts):
 * https only, public addresses checked at connect time, no redirects, 10 s, bounded body (the provider refuses more
 * than METADATA_DOCUMENT_LIMIT). A refusal is reported for the audit log; the client is told its client_id is unusable.
 */
export function metadataDocumentFetch(options: {
  resolve?: Resolver;
  /** Tests only: what carries the request once its destination passed the checks. */
  transport?: (url: string, init: RequestInit) => Promise<Response>;
  report: (what: string, detail: string) => void;
}): (url: string, init: RequestInit) => Promise<Response> {
  const policy = { what: 'OAuth client metadata document', resolve: options.resolve };
  const send = egressFetch(policy);
  return async (url, init) => {
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => (headers[name] = value));
    const request: EgressInit = { method: init.method ?? 'GET', headers, signal: init.signal ?? undefined };
    try {
      if (!options.transport) return await send(url, request);
      await checkDestination(url, policy);
      return await options.transport(url, { method: request.method, headers: request.headers, signal: request.signal });
    } catch (error) {
      if (error instanceof EgressRefused) options.report('egress', error.detail);
      throw error;
    }
  };
}
