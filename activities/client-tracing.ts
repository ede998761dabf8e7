import type { Tracer } from '@opentelemetry/api';
import type { ClientInterceptors } from '@temporalio/client';

/**
 * Client interceptors for every Temporal `Client` Roster makes (docs/operations.md "Traces"): the
 * worker's (the relay's signals, the activities' starts and signals) and the API's (approval starts
 * and Updates, campaign launches, redeliveries). Each start, signal, query and Update becomes a
 * client span, a child of the active span (the HTTP request's in the API), and carries its context
 * in the Temporal headers, which the workflow interceptors continue on the worker.
 *
 * Here rather than in core/ (which does not talk to Temporal) or worker/ (which the API does not
 * import): the API and the worker both reach activities/ for their Temporal client adapters.
 * `@temporalio/interceptors-opentelemetry` loads parts of OpenTelemetry's SDK (sdk-trace-base,
 * resources), so it is imported only when a tracer is given: a process with tracing off never
 * loads it.
 */
export async function tracingClientInterceptors(tracer: Tracer | undefined): Promise<ClientInterceptors | undefined> {
  if (tracer === undefined) return undefined;
  const { OpenTelemetryWorkflowClientInterceptor } = await import('@temporalio/interceptors-opentelemetry');
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] };
}
