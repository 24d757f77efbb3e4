import type { Signals } from '../kernel/index.ts';
import type { Database } from './db.ts';

const CHANNEL = 'countersign_wake';
/** Ids per NOTIFY: a request id is 36 characters, and PostgreSQL refuses payloads of 8,000 bytes or more. */
const PER_NOTIFY = 100;

/**
 * The kernel's wake-ups across replicas, on one LISTEN/NOTIFY channel. Every finished write publishes its request id
 * (a held call on another replica may be waiting for it); ids published in the same turn of the event loop go out in
 * one NOTIFY, comma-separated, so 32 writes finishing together cost one statement and one notification back, not 32.
 * A replica that misses one still sees the change within a second (the kernel's safety net for held calls).
 */
export function wakeSignals(database: Pick<Database, 'listen' | 'notify'>): Signals {
  let queued: string[] = [];
  let sending: Promise<void> | null = null;
  async function send(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const ids = queued;
    [queued, sending] = [[], null];
    for (let i = 0; i < ids.length; i += PER_NOTIFY) await database.notify(CHANNEL, ids.slice(i, i + PER_NOTIFY).join(','));
  }
  return {
    publish(id) {
      queued.push(id);
      return (sending ??= send());
    },
    subscribe: (onRequest) => database.listen(CHANNEL, (payload) => payload.split(',').forEach((id) => id && onRequest(id))),
  };
}
