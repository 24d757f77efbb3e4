import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { serve, type ServerType } from '@hono/node-server';
import {
  CAPABILITIES,
  compilePolicy,
  createAuditLog,
  createNoteSigner,
  createKernel,
  createRouter,
  type JsonObject,
  type Kernel,
  type Port,
  type RequestView,
} from '../../kernel/index.ts';
import { createApprovalWeb } from '../../approval-web/index.ts';
import { serveConnector } from '../../tools/host.ts';
import { defineTool, type Connector } from '../../tools/spec.ts';
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

/** A one-tool demo connector, served by the real executor boundary (`serveConnector`) like every connector. */
const demo: Connector = {
  name: 'demo',
  sandbox: true,
  tools: [
    defineTool({
      name: 'demo_refund',
      title: 'Refund a charge',
      description: 'Refunds a charge (demo connector for web tests).',
      input: z.object({ charge: z.string().min(1), amount: z.number().int().positive() }),
      impact: 'high',
      consequence: 'moves-money',
      async describe(args) {
        return {
          summary: `Refund $${(args.amount / 100).toFixed(2)} USD to Jane Doe on charge ${args.charge}`,
          consequence: 'moves-money',
          reversible: false,
          fields: [{ label: 'Amount', kind: 'money', value: args.amount, currency: 'USD' }],
          pins: { amount: args.amount },
        };
      },
      async execute(args) {
        return { data: { refunded: args.amount, charge: args.charge }, text: `Refunded ${args.amount} on ${args.charge}` };
      },
    }),
  ],
};

export async function startWebHarness(): Promise<WebHarness> {
  const database = await freshDatabase();
  const keys = await generateKernelKeys();
  const audit = createAuditLog(database.db, createNoteSigner('localhost/countersign/audit', keys.privateKey, keys.publicJwk as unknown as JsonObject));
  const router = createRouter(async () => {});
  serveConnector(router, demo, keys.publicKey);

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
    port: router.register('web', async () => null, CAPABILITIES.web),
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
      await audit.close();
      await database.close();
    },
  };
}
