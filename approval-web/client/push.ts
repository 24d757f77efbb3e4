import { postJson, showStatus } from './common.ts';

// "Enable notifications": registers /sw.js, subscribes with the server's VAPID key, and stores the subscription
// (a CSRF-protected POST). Shown only where the browser supports Web Push.

function keyBytes(base64url: string): Uint8Array<ArrayBuffer> {
  const padded = base64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob(padded);
  const bytes = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

export function enablePush(): void {
  const box = document.getElementById('push');
  const button = document.getElementById('enable-push') as HTMLButtonElement | null;
  const key = box?.dataset.key;
  if (!box || !button || !key || !('serviceWorker' in navigator) || !('PushManager' in window)) return;
  box.hidden = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
      await navigator.serviceWorker.ready;
      const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      await postJson('/push/subscribe', subscription.toJSON());
      showStatus('Notifications are on for this device.', 'info');
      box.hidden = true;
    } catch (error) {
      const denied = typeof Notification !== 'undefined' && Notification.permission === 'denied';
      showStatus(
        denied
          ? 'Notifications are blocked for this site. Allow them in the browser settings, then press the button again.'
          : `Notifications could not be turned on: ${error instanceof Error ? error.message : String(error)}`,
        'error',
      );
    } finally {
      button.disabled = false;
    }
  });
}
