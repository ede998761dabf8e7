import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The server span of a SCIM request (docs/operations.md "Traces"). Mounted only while tracing is
 * on (api/app.ts), so with tracing off the SCIM path does not even pass through it. Our own
 * middleware rather than @opentelemetry/instrumentation-http/-express: those patch `http` and
 * every express layer for the whole process (a span per middleware, the OTLP exporter's own
 * requests, the webhook POSTs that already make their own client span); one span per SCIM request
 * is what the trace needs, at the cost of one extra middleware.
 *
 * An incoming W3C `traceparent` (an IdP or proxy that traces) becomes the parent. The span is named
 * after the resource type only (`POST /scim/v2/Users`), never an id, to keep names low-cardinality.
 */
export function scimServerSpans(tracer: Tracer): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const parent = propagation.extract(context.active(), req.headers);
    const resourceType = /^\/[^/?]*/.exec(req.path)?.[0] ?? '/';
    const span = tracer.startSpan(
      `${req.method} /scim/v2${resourceType}`,
      { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'url.path': req.originalUrl.split('?')[0] ?? '', 'http.route': `/scim/v2${resourceType}` } },
      parent,
    );
    const active = trace.setSpan(parent, span);
    // The body is read in stream events whose async context is the socket's: bind the request and
    // response emitters so the handlers that run from them stay inside this span.
    context.bind(active, req);
    context.bind(active, res);
    res.once('finish', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    res.once('close', () => {
      if (!res.writableFinished) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'connection closed before the response finished' });
        span.end();
      }
    });
    context.with(active, next);
  };
}
