import { startCountdowns } from './countdown.ts';
import { enablePush } from './push.ts';

// The live inbox: the server says over server-sent events when the pending list changed; the page then fetches the
// re-rendered list and swaps it in. EventSource reconnects by itself after a dropped connection.

async function refresh(): Promise<void> {
  const response = await fetch('/inbox/fragment', { credentials: 'same-origin' });
  if (!response.ok) return;
  const parsed = new DOMParser().parseFromString(await response.text(), 'text/html');
  const fresh = parsed.getElementById('inbox-body');
  const current = document.getElementById('inbox-body');
  if (fresh && current) current.replaceWith(document.adoptNode(fresh));
  document.body.dataset.refreshed = String(Date.now());
}

let first = true;
const events = new EventSource('/events');
events.addEventListener('inbox', () => {
  // The first event describes what the page already shows.
  if (first) {
    first = false;
    document.body.dataset.live = 'true';
    return;
  }
  void refresh();
});

startCountdowns();
enablePush();
