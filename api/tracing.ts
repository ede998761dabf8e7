import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Context, context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * The server span of a request to one API surface (docs/operations.md "Traces"): SCIM, the portal
 * and console APIs, the app API. Mounted only while tracing is on (api/app.ts), so with tracing off
 * requests do not even pass through it. Our own middleware rather than
 * @opentelemetry/instrumentation-http/-express: those patch `http` and every express layer for the
 * whole process (a span per middleware, the OTLP exporter's own requests, the webhook POSTs that
 * already make their own client span); one span per request is what the trace needs, at the cost
 * of one extra middleware. The span is the parent of what the request does: its transactions and
 * its Temporal calls (the app's Client carries the tracing interceptors).
 *
 * An incoming W3C `traceparent` (an IdP or proxy that traces) becomes the parent. Names never hold
 * an id, to stay low-cardinality: SCIM spans name the resource type (`POST /scim/v2/Users`); with
 * `byRoute`, the span is renamed when the response finishes to the route that answered
 * (`POST /portal/api/approvals/:id/decide`), or keeps the first path segment if none did.
 */
export function serverSpans(tracer: Tracer, mount: string, options: { byRoute?: boolean } = {}): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const active = startServerSpan(tracer, req, res, {
      mount,
      path: req.path,
      fullPath: req.originalUrl.split('?')[0] ?? '',
      // Express leaves `req.route` (and the answering router's `baseUrl`) set once a route answered.
      ...(options.byRoute ? { route: () => routeOf(req) } : {}),
    });
    context.with(active, next);
  };
}

function routeOf(req: Request): string | undefined {
  const route: unknown = (req.route as { path?: unknown } | undefined)?.path;
  return typeof route === 'string' ? `${req.baseUrl}${route}` : undefined;
}

/**
 * Starts the server span of one request (ended when its response finishes or its connection
 * closes first) and answers the context to run the request in. `path` is below `mount`;
 * `route()`, read at the end, renames the span to the route that answered.
 */
export function startServerSpan(
  tracer: Tracer,
  req: IncomingMessage,
  res: ServerResponse,
  at: { mount: string; path: string; fullPath: string; route?: () => string | undefined },
): Context {
  const parent = propagation.extract(context.active(), req.headers);
  const firstSegment = /^\/[^/?]*/.exec(at.path)?.[0] ?? '/';
  const method = req.method ?? '';
  const span = tracer.startSpan(
    `${method} ${at.mount}${firstSegment}`,
    { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': at.fullPath, 'http.route': `${at.mount}${firstSegment}` } },
    parent,
  );
  const active = trace.setSpan(parent, span);
  // The body is read in stream events whose async context is the socket's: bind the request and
  // response emitters so the handlers that run from them stay inside this span.
  context.bind(active, req);
  context.bind(active, res);
  res.once('finish', () => {
    const route = at.route?.();
    if (route) {
      span.updateName(`${method} ${route}`);
      span.setAttribute('http.route', route);
    }
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
  return active;
}
