import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { onPress, postJson, showStatus } from './common.ts';

// The consent page of an OAuth connection (approval-web/routes/connect.tsx): sign in, then connect with a fresh passkey
// assertion bound by the server to this connection and the agent it becomes (new, or one of the person's own); or deny. Either way the browser goes back to
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
const existing = document.getElementById('existing-agent') as HTMLSelectElement | null;
/** The agent the person chose: a new one by the typed name, or one of theirs from the list. */
const chosen = () => {
  const mode = document.querySelector<HTMLInputElement>('input[name="becomes"]:checked')?.value;
  return mode === 'existing' && existing ? { agent: existing.value, existing: true } : { agent: name?.value.trim() ?? '', existing: false };
};
// Typing a name or picking from the list selects the option it belongs to.
name?.addEventListener('input', () => document.querySelector<HTMLInputElement>('input[name="becomes"][value="new"]')?.click());
existing?.addEventListener('change', () => document.querySelector<HTMLInputElement>('input[name="becomes"][value="existing"]')?.click());
if (connect && name) {
  onPress(connect, async () => {
    const agent = chosen();
    showStatus('Confirm with your passkey to connect…', 'info');
    const { challengeId, options } = await postJson<Options>(`${base}/options`, agent);
    const response = await startAuthentication({ optionsJSON: options });
    const done = await postJson<{ redirect: string }>(base, { challengeId, response, ...agent });
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
