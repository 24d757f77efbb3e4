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
    const done = await postJson<{ redirect: string }>('/signin/verify', { challengeId, response });
    window.location.assign(done.redirect);
  });
}
