import {
  type Attributes,
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';
import type { resources } from '@opentelemetry/sdk-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/**
 * OpenTelemetry traces (docs/operations.md "Traces"). Off unless OTEL_EXPORTER_OTLP_ENDPOINT is
 * set (or a test passes its own span processor). Off means: the SDK is never loaded, no span is
 * made, and every helper here returns after one check of `tracer`, allocating nothing.
 *
 * The tracer is process-wide because OpenTelemetry's context manager and propagator are (its API
 * keeps them in globals); startTelemetry sets it once at the composition root.
 */
let tracer: Tracer | undefined;

export type Resource = resources.Resource;

export interface Telemetry {
  /** Where every span of this process goes (the worker hands it to the workflow span sink). */
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Roster's tracer (Temporal's client and activity interceptors make their spans with it). */
  tracer: Tracer;
  /** Flushes pending spans and turns tracing off. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL (OTLP over HTTP, `/v1/traces` appended). */
  endpoint?: string | undefined;
  /** OTEL_SERVICE_NAME, or the process's default (roster-api, roster-worker, roster). */
  serviceName: string;
  /** Instead of the OTLP exporter (tests: an in-memory exporter). */
  spanProcessor?: SpanProcessor;
}

/** The service name a process reports: OTEL_SERVICE_NAME, else one per ROSTER_ROLE. */
export function telemetryServiceName(config: { OTEL_SERVICE_NAME?: string | undefined }, role: 'all' | 'api' | 'worker'): string {
  return config.OTEL_SERVICE_NAME ?? (role === 'all' ? 'roster' : `roster-${role}`);
}

/**
 * Starts tracing when an endpoint or a span processor is given; otherwise does nothing and
 * answers undefined. The SDK is imported only here, so a process with tracing off never loads it.
 *
 * The tracer provider is kept private rather than registered globally (which NodeSDK.start does):
 * slonik traces every query through the global provider (four spans per query, and a new root
 * trace for every poll of the relay and the sealers). Only the context manager (AsyncLocalStorage)
 * and the W3C trace-context propagator are global; Temporal's interceptors get our tracer.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry | undefined> {
  if (!options.endpoint && !options.spanProcessor) return undefined;
  if (tracer) throw new Error('telemetry is already started in this process');
  const [{ core, node, resources, tracing }, { AsyncLocalStorageContextManager }] = await Promise.all([
    import('@opentelemetry/sdk-node'),
    import('@opentelemetry/context-async-hooks'),
  ]);
  let spanProcessor = options.spanProcessor;
  if (!spanProcessor) {
    const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
    spanProcessor = new tracing.BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint!.replace(/\/+$/, '')}/v1/traces` }));
  }
  const resource = new resources.Resource({ 'service.name': options.serviceName });
  const provider = new node.NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  tracer = provider.getTracer('roster');
  return {
    spanProcessor,
    resource,
    tracer,
    async shutdown() {
      tracer = undefined;
      await provider.shutdown();
      propagation.disable();
      context.disable();
    },
  };
}

/** True while telemetry is started in this process (composition roots decide what to wire). */
export function tracingEnabled(): boolean {
  return tracer !== undefined;
}

/** The tracer while tracing is on (for the API's and the worker's own span helpers). */
export function activeTracer(): Tracer | undefined {
  return tracer;
}

/**
 * The W3C `traceparent` of the active span, to store beside work that continues elsewhere (an
 * outbox row); null when tracing is off or no span is active.
 */
export function currentTraceparent(): string | null {
  if (tracer === undefined) return null;
  const span = trace.getActiveSpan();
  if (span === undefined) return null;
  const sc = span.spanContext();
  if (!isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 1) === 1 ? '01' : '00'}`;
}

/** The context a stored `traceparent` names (its span as the remote parent). */
export function contextFromTraceparent(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** Writes the active context's `traceparent` (and `tracestate`) into outgoing headers; no-op when off. */
export function injectTraceHeaders(headers: Record<string, string>): void {
  if (tracer === undefined) return;
  propagation.inject(context.active(), headers);
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Parent context (default: the active one). */
  parent?: Context;
}

/**
 * Runs `fn` inside a new active span that ends when `fn` settles (an error is recorded and
 * rethrown). When tracing is off it only calls `fn`.
 */
export async function inSpan<T>(name: string, options: SpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const t = tracer;
  if (t === undefined) return fn(undefined);
  const parent = options.parent ?? context.active();
  return t.startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, ...(options.attributes ? { attributes: options.attributes } : {}) }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      span.recordException(err instanceof Error ? err : String(err));
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      throw err;
    } finally {
      span.end();
    }
  });
}

export { SpanKind, SpanStatusCode };
