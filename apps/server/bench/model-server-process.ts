/** The bench's model server, in a process of its own so it does not share the measured event loop: answers every request with one short text. */
import { startModelServer, textReply } from '@data-machine/testkit';

const server = await startModelServer({ handler: () => textReply('Hello there, how can I help you today?') });
process.send?.({ baseURL: server.baseURL });
process.on('disconnect', () => void server.close().then(() => process.exit(0)));
