import diagnostics from 'node:diagnostics_channel';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Records each batch of bytes `server` hands a client's socket to send (the
 * stream's `_write` or `_writev`: one system call), as `describe` names it,
 * into `into`, until the returned function is called.
 */
export function recordSocketWrites(server: Server, into: string[], describe: (bytes: string) => string): () => void {
  // A kept-alive socket carries several requests: wrapped once.
  const recorded = new WeakSet<Socket>();
  const onRequestStart = (message: unknown) => {
    const { socket, server: from } = message as { socket: Socket; server: unknown };
    if (from !== server || recorded.has(socket)) return;
    recorded.add(socket);
    const { _write: write, _writev: writev } = socket;
    socket._write = (chunk, encoding, callback) => {
      into.push(describe(String(chunk)));
      write.call(socket, chunk, encoding, callback);
    };
    if (writev === undefined) return;
    socket._writev = (chunks, callback) => {
      into.push(describe(chunks.map(({ chunk }) => String(chunk)).join('')));
      writev.call(socket, chunks, callback);
    };
  };
  diagnostics.subscribe('http.server.request.start', onRequestStart);
  return () => diagnostics.unsubscribe('http.server.request.start', onRequestStart);
}
