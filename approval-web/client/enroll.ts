import { startRegistration, type PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/browser';
import { onPress, postJson, showStatus } from './common.ts';

// Enrollment: ask the server for registration options bound to this invite, create the passkey, send it back.
const button = document.getElementById('create-passkey') as HTMLButtonElement | null;
const base = button?.dataset.url;
if (button && base) {
  onPress(button, async () => {
    showStatus('Follow your device’s prompt to create the passkey…', 'info');
    const { challengeId, options } = await postJson<{ challengeId: string; options: PublicKeyCredentialCreationOptionsJSON }>(
      `${base}/options`,
      {},
    );
    const response = await startRegistration({ optionsJSON: options });
    const done = await postJson<{ redirect: string }>(`${base}/verify`, { challengeId, response });
    showStatus('Passkey created. Opening your inbox…', 'info');
    window.location.assign(done.redirect);
  });
}
