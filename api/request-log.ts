import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
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
 */
export function requestLog(logger: Logger): RequestHandler {
  const accessLog = logger.isLevelEnabled('info');
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    req.id = id;
    req.log = logger;
    res.setHeader('X-Request-Id', id);
    if (accessLog && !QUIET_PATHS.has(req.url)) {
      const start = performance.now();
      res.once('finish', () => {
        logger.info(
          { req: { id, method: req.method, url: req.originalUrl.split('?')[0] }, res: { statusCode: res.statusCode }, responseTime: Math.round(performance.now() - start) },
          'request completed',
        );
      });
    }
    next();
  };
}
