import { randomBytes } from 'node:crypto';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { approvalSigningBytes, type ApprovalDecision } from '../../kernel/index.ts';
import { createSoftAuthenticator, type SoftAuthenticator } from './authenticator.ts';
import { BIN, run } from './cli-process.ts';
import { sendToServer } from '../../gateway/admin.ts';

/**
 * An approver of a server running in another process, driven only from outside: enrolled through the invite link
 * with a software passkey, then deciding on a paired Passport (device key) through /api/v1/devices/. `cli` runs a
 * command against the server (through its admin socket), as an operator would.
 */
export interface RemoteApprover {
  email: string;
  deviceId: string;
  /** The passkey enrolled from the invite (signs in on the web pages). */
  passkey: SoftAuthenticator;
  inbox(): Promise<{ id: string; digest: string; tool: string }[]>;
  /** Signs `decision` over the request's digest with the device key and posts it; returns the HTTP status and body. */
  decide(requestId: string, digest: string, decision: ApprovalDecision, reason?: string | null): Promise<{ status: number; json: Record<string, unknown> }>;
}

export type Cli = (args: string[]) => Promise<string>;

/**
 * Runs `countersign ARGS --json` against the server running in `home` and returns stdout: sent over its admin socket
 * as the CLI does when a server runs (without paying for a CLI process each time), else as a CLI process with `env`.
 */
export const cliFor = (home: string, env: NodeJS.ProcessEnv): Cli => async (args) => {
  const argv = [...args, '--json'];
  const sent = await sendToServer(home, argv, 'countersign');
  const out = sent ? { code: sent.exitCode, stdout: sent.stdout, stderr: '' } : await run([process.execPath, BIN, ...argv], { cwd: home, env });
  if (out.code !== 0) throw new Error(`countersign ${args.join(' ')} exited ${out.code}: ${out.stdout}${out.stderr}`);
  return out.stdout;
};

export async function enrollRemote(url: () => string, publicUrl: string, cli: Cli, email: string): Promise<RemoteApprover> {
  const origin = new URL(publicUrl).origin;
  const invite = JSON.parse(await cli(['approver', 'invite', email])) as { url: string };
  const token = invite.url.split('/enroll/')[1]!;
  // The enrollment page sets the pre-session CSRF cookie and names the same token in a meta tag (double submit).
  const page = await fetch(`${url()}/enroll/${token}`);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
  const csrf = /<meta name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(url() + path, { method: 'POST', headers: { 'content-type': 'application/json', origin, ...headers }, body: JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };
  const web = { cookie, 'x-csrf-token': csrf };
  const options = await post(`/enroll/${token}/options`, {}, web);
  if (options.status !== 200) throw new Error(`enrollment options: ${options.status} ${JSON.stringify(options.json)}`);
  const passkey = createSoftAuthenticator({ rpId: new URL(publicUrl).hostname, origin });
  const response = passkey.register(options.json.options as never);
  const enrolled = await post(`/enroll/${token}/verify`, { challengeId: options.json.challengeId, response }, web);
  if (enrolled.status !== 200) throw new Error(`enrollment: ${enrolled.status} ${JSON.stringify(enrolled.json)}`);

  const { code } = JSON.parse(await cli(['device', 'pair', '--approver', email])) as { code: string };
  const { publicKey, privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  const paired = await post('/api/v1/devices/pair', { code, name: 'crash test Passport', publicJwk: await exportJWK(publicKey) });
  if (paired.status !== 201) throw new Error(`pairing: ${paired.status} ${JSON.stringify(paired.json)}`);
  const deviceId = paired.json.deviceId as string;
  const auth = (method: string, path: string) => deviceAuth(privateKey, deviceId, method, path);
  return {
    email,
    deviceId,
    passkey,
    async inbox() {
      const response = await fetch(url() + '/api/v1/devices/inbox', { headers: { authorization: await auth('GET', '/api/v1/devices/inbox') } });
      if (response.status !== 200) throw new Error(`inbox: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { requests: { id: string; digest: string; tool: string }[] }).requests;
    },
    async decide(requestId, digest, decision, reason = null) {
      const jws = await new CompactSign(approvalSigningBytes(digest, decision, reason)).setProtectedHeader({ alg: 'EdDSA', kid: deviceId }).sign(privateKey);
      return post('/api/v1/devices/decide', { requestId, decision, jws, reason }, { authorization: await auth('POST', '/api/v1/devices/decide') });
    },
  };
}

async function deviceAuth(key: CryptoKey, deviceId: string, method: string, path: string): Promise<string> {
  const payload = { method, path, iat: Math.floor(Date.now() / 1000), nonce: randomBytes(18).toString('base64url') };
  const jws = await new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', kid: deviceId }).sign(key);
  return `Passport ${jws}`;
}
