import { startAuthentication, type PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/browser';
import { onPress, postJson, showStatus } from './common.ts';

// Sign-in with a discoverable passkey: the server does not ask who you are, the passkey says so.
const button = document.getElementById('sign-in') as HTMLButtonElement | null;
if (button) {
  onPress(button, async () => {
    showStatus('Follow your device’s prompt to use your passkey…', 'info');
    const { challengeId, options } = await postJson<{ challengeId: string; options: PublicKeyCredentialRequestOptionsJSON }>(
      '/signin/options',
      {},
    );
    const response = await startAuthentication({ optionsJSON: options });
    // The page the approver followed a link to (the server checks it is a path on this site).
    const next = button.dataset.next ?? null;
    const done = await postJson<{ redirect: string }>('/signin/verify', { challengeId, response, next });
    window.location.assign(done.redirect);
  });
}
