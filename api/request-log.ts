import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

declare module 'node:http' {
  interface IncomingMessage {
    /** The request id (X-Request-Id), echoed in the response and in every log line of the request. */
    id: string;
    /** The process logger; request-scoped fields are passed per call (`{ reqId: req.id }`). */
    log: Logger;
  }
}

const SANE_REQUEST_ID = /^[\w.-]{1,128}$/;
const QUIET_PATHS = new Set(['/healthz', '/readyz']);

/**
 * Request ids and one access-log line per request. Replaces pino-http, which cost a child logger,
 * serializers and a finish listener on every request even with logging off: here nothing beyond
 * the id runs per request unless `info` is enabled. Bodies and credentials never reach the logs.
 * On node's own request and response: createApp runs it once for every surface, express's and
 * the ones served without it (SCIM, token introspection).
 */
export function startRequest(logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const accessLog = logger.isLevelEnabled('info');
  return (req, res) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    req.log = logger;
    res.setHeader('X-Request-Id', id);
    const url = req.url ?? '';
    if (accessLog && !QUIET_PATHS.has(url)) {
      const start = performance.now();
      res.once('finish', () => {
        logger.info(
          { req: { id, method: req.method, url: url.split('?')[0] }, res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - start) },
          'request completed',
        );
      });
    }
  };
}
