import { createRequire } from 'node:module';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkerOptions } from '@temporalio/worker';
import type { Telemetry } from '../core/telemetry.js';

/**
 * Temporal's OpenTelemetry interceptors (docs/operations.md "Traces"): the client ones put the
 * active trace context in the headers of every start and signal; the workflow ones (inside the
 * bundle) continue it in `RunWorkflow` / `HandleSignal` spans and pass it on to activities; the
 * activity ones make `RunActivity` the active span while an activity runs. Workflow spans leave
 * the sandbox through the `exporter` sink into this process's span processor.
 */

/** The workflow interceptor module, bundled with workflows/ when tracing is on. */
export const tracingWorkflowModules: readonly string[] = [createRequire(import.meta.url).resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

/** What the worker needs of core/telemetry.ts's Telemetry. */
export type WorkerTelemetry = Pick<Telemetry, 'spanProcessor' | 'resource' | 'tracer'>;

/** Client interceptors for a Client whose starts and signals should carry the active trace. */
export function tracingClientInterceptors(telemetry: Pick<Telemetry, 'tracer'> | undefined): ClientInterceptors | undefined {
  return telemetry ? { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: telemetry.tracer })] } : undefined;
}

/**
 * Worker options for tracing. A prebuilt bundle must have been built with `tracingWorkflowModules`
 * as its `workflowInterceptorModules`; otherwise the worker bundles them itself.
 */
export function tracingWorkerOptions(telemetry: WorkerTelemetry, prebuiltBundle: boolean): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  const options = { tracer: telemetry.tracer };
  return {
    interceptors: {
      ...(prebuiltBundle ? {} : { workflowModules: [...tracingWorkflowModules] }),
      activity: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, options), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
    sinks: { exporter: makeWorkflowExporter(telemetry.spanProcessor, telemetry.resource) },
  };
}
