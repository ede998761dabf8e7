import type { IncomingMessage, ServerResponse } from 'node:http';

// Pieces for the surfaces served on node's own request and response rather than through express
// (SCIM, token introspection: api/app.ts says why).

/** Writes a JSON answer (express's `res.status(…).json(…)` without express). */
export function sendJson(res: ServerResponse, status: number, body: unknown, contentType = 'application/json; charset=utf-8'): void {
  const json = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}

/** A body-parser middleware (express.json, express.urlencoded); it works on node's request as is. */
export type BodyParser = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Runs a body parser: `req.body` is set when it resolves; its errors (400, 413, 415) reject. */
export function readBody(parser: BodyParser, req: IncomingMessage, res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => parser(req, res, (err) => (err === undefined ? resolve() : reject(err instanceof Error ? err : new Error('body parser failed', { cause: err })))));
}
