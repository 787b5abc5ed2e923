/**
 * The bench's model server, run as a child process, as a real model server
 * would be, so that its work is not measured as the client's: it answers a
 * tool call first and text once the tool's result is in; `Say hello.` is
 * answered with text at once.
 */
import { startModelServer, textReply, toolCallReply } from '@data-machine/testkit';

const server = await startModelServer({
  handler: (request) =>
    request.messages.at(-1)?.role === 'tool' || request.messages.at(-1)?.content === 'Say hello.'
      ? textReply('It is sunny in Paris.')
      : toolCallReply({ name: 'weather', arguments: { city: 'Paris' } }),
});
process.send?.({ baseURL: server.baseURL });
process.once('disconnect', () => {
  void server.close();
});
