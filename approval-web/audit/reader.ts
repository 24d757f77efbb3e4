import { KernelError, type Json, type Port } from '../../kernel/index.ts';
// Types only: the wire shapes are declared once, by the service that answers them; no gateway code runs here.
import type { ChainStatus, People, RequestFilter, RequestPage, Stats, Timeline } from '../../gateway/audit-reader/messages.ts';

export type { ChainStatus, People, RequestFilter, RequestPage, RequestRow, Stats, Timeline, TimelineEntry, TimelineDecision } from '../../gateway/audit-reader/messages.ts';

/** The web app's typed client for the read-only `audit` endpoint (its port holds the `audit:` ops in CAPABILITIES.web). */
export interface AuditReader {
  requests(filter: RequestFilter, after: string | null, limit: number): Promise<RequestPage>;
  timeline(requestId: string): Promise<Timeline | null>;
  status(fresh: boolean): Promise<ChainStatus>;
  stats(from: string, to: string): Promise<Stats>;
  people(): Promise<People>;
}

/** Replies are checked for the one field each page relies on, so a drifted reply names its op instead of rendering garbage. */
function shaped<T>(op: string, value: Json, field: string): T {
  if (!value || typeof value !== 'object' || Array.isArray(value) || !(field in value)) {
    throw new KernelError('internal', `the audit service's reply to ${op} has no "${field}"; is the gateway's audit reader the same version as the web app?`);
  }
  return value as unknown as T;
}

export function auditReader(port: Port): AuditReader {
  const send = (body: { op: string; [key: string]: Json | undefined }) => port.send('audit', body);
  return {
    async requests(filter, after, limit) {
      return shaped('audit.requests', await send({ op: 'audit.requests', filter: filter as { [key: string]: Json }, after, limit }), 'rows');
    },
    async timeline(requestId) {
      try {
        return shaped('audit.timeline', await send({ op: 'audit.timeline', requestId }), 'entries');
      } catch (error) {
        if (error instanceof KernelError && error.code === 'unknown_request') return null;
        throw error;
      }
    },
    async status(fresh) {
      return shaped('audit.status', await send({ op: 'audit.status', fresh }), 'ok');
    },
    async stats(from, to) {
      return shaped('audit.stats', await send({ op: 'audit.stats', from, to }), 'perHour');
    },
    async people() {
      return shaped('audit.people', await send({ op: 'audit.people' }), 'agents');
    },
  };
}
