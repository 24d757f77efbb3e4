import { Hono, type Context } from 'hono';
import { KernelError } from '../../kernel/index.ts';
import type { WebDeps, WebEnv } from '../context.ts';
import type { Device } from '../kernel-client.ts';
import type { PairingCode } from '../devices/pairing.ts';
import { problem } from '../problem.tsx';
import { readForm } from './body.ts';
import { requireApprover } from '../sessions.ts';
import { render } from '../views/layout.tsx';
import { When } from '../views/decision.tsx';
import { Value } from '../views/value.tsx';

/**
 * `/devices`: the signed-in approver's paired Passports. "Pair a Passport" shows a one-time code (10 minutes) to enter
 * on the device together with this server's address; "Remove" unpairs a device at once (its next call is refused).
 */

const ID = /^dev_[0-9a-f]{32}$/;

function DevicesPage(props: { devices: Device[]; csrfToken: string; publicUrl: string; pairing?: PairingCode | null }) {
  const { devices, csrfToken, publicUrl, pairing } = props;
  return (
    <section class="devices">
      <h1>Passports</h1>
      <p>A paired Passport shows each request on its own screen and signs your decision with a key that never leaves it.</p>
      {pairing ? (
        <div class="notice" role="status" id="pairing">
          <p>
            Enter this code on the Passport within 10 minutes (until <When at={pairing.expiresAt.toISOString()} />). It works once.
          </p>
          <p class="pairing-code">
            <code id="pairing-code">{pairing.code}</code>
          </p>
          <p>
            Server: <code>{publicUrl}</code>
          </p>
          <p>
            Software emulator: <code>{`countersign passport pair --url ${publicUrl} --code ${pairing.code}`}</code>
          </p>
        </div>
      ) : null}
      <form method="post" action="/devices/pair" class="pair-form">
        <input type="hidden" name="_csrf" value={csrfToken} />
        <label for="device-name">Name (optional)</label>
        <input type="text" id="device-name" name="name" maxlength={64} placeholder="Desk Passport" autocomplete="off" />
        <button type="submit">Pair a Passport</button>
      </form>
      <h2>Paired</h2>
      {devices.length === 0 ? (
        <p class="empty">No Passport is paired yet.</p>
      ) : (
        <ul class="device-list">
          {devices.map((d) => (
            <li>
              <strong>
                <Value text={d.name} />
              </strong>{' '}
              <span class="muted">
                paired <When at={d.pairedAt} /> · <code>{d.id}</code>
              </span>
              <form method="post" action={`/devices/${d.id}/remove`}>
                <input type="hidden" name="_csrf" value={csrfToken} />
                <button type="submit" class="secondary">
                  Remove
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <p>
        <a href="/" class="back">
          Back to the inbox
        </a>
      </p>
    </section>
  );
}

export function deviceRoutes(deps: WebDeps): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  const page = async (c: Context<WebEnv>, pairing: PairingCode | null, status?: 400) => {
    const devices = await deps.kernel.listDevices(c.var.approver!.id);
    const body = <DevicesPage devices={devices} csrfToken={c.var.csrfToken} publicUrl={deps.publicUrl} pairing={pairing} />;
    return render(c, { title: 'Passports', status, script: 'page' }, body);
  };

  app.get('/devices', requireApprover, (c) => page(c, null));

  app.post('/devices/pair', requireApprover, async (c) => {
    const form = await readForm(c);
    if (!form.ok) return problem(c, 400, 'bad_request', form.message);
    const name = typeof form.value.name === 'string' ? form.value.name : null;
    try {
      return await page(c, await deps.store.createPairingCode({ approverId: c.var.approver!.id, name }));
    } catch (error) {
      if (error instanceof KernelError && error.code === 'bad_request') return problem(c, 400, 'bad_request', `${error.message}. Go back and try again.`);
      throw error;
    }
  });

  app.post('/devices/:id/remove', requireApprover, async (c) => {
    const id = c.req.param('id');
    try {
      if (!ID.test(id)) throw new KernelError('bad_request', 'That is not a device id');
      await deps.kernel.removeDevice(id, c.var.approver!.id);
    } catch (error) {
      if (error instanceof KernelError && error.code === 'bad_request') {
        return problem(c, 404, 'unknown_device', 'There is no such Passport paired to your account (it may be removed already). Go back to /devices.');
      }
      throw error;
    }
    return c.redirect('/devices', 303);
  });

  return app;
}
