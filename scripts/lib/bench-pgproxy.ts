import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP pass-through in front of PostgreSQL that reads the frontend (client → server) side of
 * the wire protocol and counts round trips: each Sync ('S', ends an extended-protocol query)
 * and each simple Query ('Q') is one wait for the server. It also keeps the SQL text of every
 * Parse/Query, so a profile can list the statements one HTTP request costs. Plain TCP only
 * (no TLS), which is what local trust authentication uses.
 */
export interface RoundTripCounter {
  port: number;
  roundTrips: number;
  statements: string[];
  /** Open server connections (pool size as seen from outside). */
  connections: number;
  reset(): void;
  close(): Promise<void>;
}

export async function startCountingProxy(target: { host: string; port: number }): Promise<RoundTripCounter> {
  const sockets = new Set<Socket>();
  const counter: RoundTripCounter = {
    port: 0,
    roundTrips: 0,
    statements: [],
    connections: 0,
    reset() {
      counter.roundTrips = 0;
      counter.statements = [];
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };

  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    counter.connections++;
    let buffer = Buffer.alloc(0);
    let startup = true;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (startup) {
          if (buffer.length < 8) break;
          const len = buffer.readInt32BE(0);
          if (buffer.length < len) break;
          const code = buffer.readInt32BE(4);
          buffer = buffer.subarray(len);
          if (code !== 80877103 && code !== 80877104) startup = false; // not SSLRequest / GSSENCRequest
          continue;
        }
        if (buffer.length < 5) break;
        const type = String.fromCharCode(buffer[0]!);
        const len = buffer.readInt32BE(1);
        if (buffer.length < 1 + len) break;
        const body = buffer.subarray(5, 1 + len);
        buffer = buffer.subarray(1 + len);
        if (type === 'S' || type === 'Q') counter.roundTrips++;
        if (type === 'Q') counter.statements.push(cstring(body, 0));
        if (type === 'P') {
          const nameEnd = body.indexOf(0);
          counter.statements.push(cstring(body, nameEnd + 1));
        }
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    const done = () => {
      if (sockets.delete(client)) counter.connections--;
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done).on('error', done);
    upstream.on('close', done).on('error', done);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  counter.port = (server.address() as { port: number }).port;
  return counter;
}

function cstring(buf: Buffer, start: number): string {
  const end = buf.indexOf(0, start);
  return buf.toString('utf8', start, end < 0 ? buf.length : end).replace(/\s+/g, ' ').trim();
}
