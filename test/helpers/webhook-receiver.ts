import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EVENT_TYPE_HEADER } from '../../core/webhook-signature.js';

/**
 * The vendor's webhook endpoint as a real local server that answers 200 and records the event type
 * of every delivery by path; a test gives each tenant its own path (its slug) and reads it back.
 */
export interface EventTypeReceiver {
  url: string;
  /** The event types delivered to `/<path>`, in arrival order. */
  typesAt(path: string): string[];
  close(): Promise<void>;
}

export async function startEventTypeReceiver(): Promise<EventTypeReceiver> {
  const received: { path: string; type: string }[] = [];
  const server = createServer((req, res) => {
    received.push({ path: req.url ?? '/', type: String(req.headers[EVENT_TYPE_HEADER.toLowerCase()]) });
    req.resume();
    req.on('end', () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    typesAt: (path) => received.filter((r) => r.path === `/${path}`).map((r) => r.type),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
