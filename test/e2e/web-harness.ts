import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import {
  compilePolicy,
  createAuditLog,
  createJwsSigner,
  createKernel,
  createRouter,
  type JsonObject,
  type Kernel,
  type Port,
  type RequestView,
  type ToolInfo,
} from '../../kernel/index.ts';
import { APPROVAL_WEB_CAPABILITIES, createApprovalWeb } from '../../approval-web/index.ts';
import type { Database } from '../../gateway/db.ts';
import { generateKernelKeys } from '../../gateway/keys.ts';
import { freshDatabase } from '../support/db.ts';

/**
 * The approval web app on a random port, wired to the real kernel on a real router over a fresh database, plus a
 * one-tool demo connector so tests can put a real pending request in an approver's inbox.
 */
export interface WebHarness {
  url: string;
  database: Database;
  kernel: Kernel;
  admin: Port;
  /** Submits demo_refund for an agent owned by `owner`; the default policy sends it to that owner for approval. */
  submitForApproval(owner: string, amount: number): Promise<RequestView>;
  close(): Promise<void>;
}

const DEMO_TOOL: ToolInfo = {
  name: 'demo_refund',
  title: 'Refund a charge',
  description: 'Refunds a charge (demo connector for web tests).',
  inputSchema: { type: 'object', properties: { charge: { type: 'string' }, amount: { type: 'integer' } } },
  impact: 'high',
  consequence: 'moves-money',
  connector: 'demo',
  sandbox: true,
};

export async function startWebHarness(): Promise<WebHarness> {
  const database = await freshDatabase();
  const keys = await generateKernelKeys();
  const audit = createAuditLog(database.db, createJwsSigner(keys.privateKey, keys.publicJwk as unknown as JsonObject));
  const router = createRouter(async () => {});
  router.register(
    'connector.demo',
    async ({ body }) => {
      if (body.op === 'tools.list') return [{ ...DEMO_TOOL }] as unknown as JsonObject[];
      if (body.op === 'describe') {
        const args = body.args as { charge: string; amount: number };
        return {
          args,
          intent: {
            summary: `Refund $${(args.amount / 100).toFixed(2)} USD to Jane Doe on charge ${args.charge}`,
            consequence: 'moves-money',
            reversible: false,
            fields: [{ label: 'Amount', kind: 'money', value: args.amount, currency: 'USD' }],
            pins: { amount: args.amount },
            sandbox: true,
          },
        };
      }
      throw new Error(`demo connector does not handle ${body.op}`);
    },
    ['kernel:grant.consume'],
  );

  // The port exists before the server listens, so publicUrl needs the port first: listen, then build the app.
  let handler: ((request: Request) => Response | Promise<Response>) | null = null;
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: (request) => handler!(request), port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const url = `http://localhost:${(server.address() as AddressInfo).port}`;
  const kernel = await createKernel({
    db: database.db,
    router,
    audit,
    keys,
    policy: () => compilePolicy({ default: 'approve', rules: [] }),
    roles: () => ({}),
    publicUrl: url,
  });
  await kernel.refreshTools();
  const admin = router.register('admin', async () => null, ['kernel:*']);
  const web = createApprovalWeb({
    port: router.register('web', async () => null, APPROVAL_WEB_CAPABILITIES),
    db: database.db,
    publicUrl: url,
    sandbox: true,
  });
  handler = (request) => web.fetch(request);

  let agents = 0;
  return {
    url,
    database,
    kernel,
    admin,
    async submitForApproval(owner, amount) {
      const { agent } = await admin.send<{ agent: { id: string } }>('kernel', { op: 'agent.add', name: `agent-${++agents}`, owner });
      return admin.send<RequestView & JsonObject>('kernel', {
        op: 'request.submit',
        agentId: agent.id,
        tool: 'demo_refund',
        args: { charge: 'ch_1', amount },
      });
    },
    async close() {
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      if ('closeAllConnections' in server) server.closeAllConnections();
      await closing;
      await kernel.close();
      await database.close();
    },
  };
}
