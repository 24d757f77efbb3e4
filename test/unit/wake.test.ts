import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../gateway/db.ts';
import { wakeSignals } from '../../gateway/wake.ts';

// The wake-up channel on a real LISTEN/NOTIFY (embedded PGlite): what one replica publishes, the others hear, id by id,
// however the ids were packed into notifications.
describe('wakeSignals', () => {
  let database: Database;
  let notifies: string[];
  beforeAll(async () => {
    const opened = await openDatabase({ dataDir: null });
    notifies = [];
    database = { ...opened, notify: (channel, payload) => (notifies.push(payload), opened.notify(channel, payload)) };
  });
  afterAll(() => database.close());

  async function listening() {
    const heard: string[] = [];
    const stop = await wakeSignals(database).subscribe((id) => heard.push(id));
    notifies.length = 0;
    return { heard, stop };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('sends ids published in one turn of the event loop as one notification, and delivers each id', async () => {
    const { heard, stop } = await listening();
    const signals = wakeSignals(database);
    await Promise.all(['req_a', 'req_b', 'agent:agt_1'].map((id) => signals.publish(id)));
    await settle();
    expect(notifies).toEqual(['req_a,req_b,agent:agt_1']);
    expect(heard).toEqual(['req_a', 'req_b', 'agent:agt_1']);
    await stop();
  });

  it('keeps each notification under the payload limit: 250 ids go out in three', async () => {
    const { heard, stop } = await listening();
    const signals = wakeSignals(database);
    const ids = Array.from({ length: 250 }, (_, i) => `req_${String(i).padStart(32, '0')}`);
    await Promise.all(ids.map((id) => signals.publish(id)));
    await settle();
    expect(notifies.map((payload) => payload.split(',').length)).toEqual([100, 100, 50]);
    expect(Math.max(...notifies.map((payload) => payload.length))).toBeLessThan(8000);
    expect(heard).toEqual(ids);
    await stop();
  });

  it('publishes separately what comes in separate turns, and a publish resolves once its notification is sent', async () => {
    const { heard, stop } = await listening();
    const signals = wakeSignals(database);
    await signals.publish('req_1');
    expect(notifies).toEqual(['req_1']);
    await signals.publish('req_2');
    await settle();
    expect(notifies).toEqual(['req_1', 'req_2']);
    expect(heard).toEqual(['req_1', 'req_2']);
    await stop();
  });
});
