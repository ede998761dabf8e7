import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  /** Which tenant's endpoint (the last path segment of the receiver URL). */
  endpoint: string;
  id: string;
  type: string;
  subject: string;
  /** Arrival (ms since the epoch). */
  at: number;
}

/** The vendor's app: a loopback receiver that records every delivery (duplicates included) in arrival order. */
export interface WebhookReceiver {
  urlFor(endpoint: string): string;
  received: ReceivedWebhook[];
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; type: string; subject: { id: string } };
        received.push({ endpoint: (req.url ?? '').split('/').pop() ?? '', id: body.id, type: body.type, subject: body.subject.id, at: Date.now() });
        res.writeHead(200).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    urlFor: (endpoint) => `http://127.0.0.1:${port}/hooks/${endpoint}`,
    received,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
