import { Socket } from 'node:net';
import { openChannel } from '../../gateway/isolation/channel.ts';

// The far end of the hop bench: answers every call at once with a small value, like a grant.consume reply.
const socket = new Socket({ fd: 3, readable: true, writable: true });
openChannel(socket, async () => ({ ok: true, value: { consumed: true } }));
