import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { onPress, postJson, showStatus } from './common.ts';

// The consent page of an OAuth connection (approval-web/routes/connect.tsx): sign in, then connect with a fresh passkey
// assertion bound by the server to this connection and the agent name; or deny. Either way the browser goes back to
// the app through the authorization endpoint.
const section = document.querySelector<HTMLElement>('section.connect');
const uid = section?.dataset.uid ?? '';
const base = `/connect/${encodeURIComponent(uid)}`;
type Options = { challengeId: string; options: PublicKeyCredentialRequestOptionsJSON };

const signIn = document.getElementById('sign-in') as HTMLButtonElement | null;
if (signIn) {
  onPress(signIn, async () => {
    showStatus('Follow your device’s prompt to use your passkey…', 'info');
    const { challengeId, options } = await postJson<Options>('/signin/options', {});
    const response = await startAuthentication({ optionsJSON: options });
    const done = await postJson<{ redirect: string }>('/signin/verify', { challengeId, response, next: base });
    window.location.assign(done.redirect);
  });
}

const connect = document.getElementById('connect') as HTMLButtonElement | null;
const name = document.getElementById('agent-name') as HTMLInputElement | null;
if (connect && name) {
  onPress(connect, async () => {
    const agent = name.value.trim();
    showStatus('Confirm with your passkey to connect…', 'info');
    const { challengeId, options } = await postJson<Options>(`${base}/options`, { agent });
    const response = await startAuthentication({ optionsJSON: options });
    const done = await postJson<{ redirect: string }>(base, { challengeId, response, agent });
    showStatus('Connected. Taking you back to the app…', 'info');
    window.location.assign(done.redirect);
  });
}

const deny = document.getElementById('deny') as HTMLButtonElement | null;
if (deny) {
  onPress(deny, async () => {
    const done = await postJson<{ redirect: string }>(`${base}/deny`, {});
    window.location.assign(done.redirect);
  });
}
