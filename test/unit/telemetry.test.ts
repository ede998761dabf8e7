import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import {
  contextFromTraceparent,
  currentTraceparent,
  injectTraceHeaders,
  inSpan,
  SpanStatusCode,
  startTelemetry,
  telemetryServiceName,
  tracingEnabled,
} from '../../core/telemetry.js';

describe('telemetry configuration', () => {
  it('is off unless OTEL_EXPORTER_OTLP_ENDPOINT is a URL (empty, as compose passes it, is unset)', () => {
    expect(loadConfig({}).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).OTEL_EXPORTER_OTLP_ENDPOINT).toBe('http://collector:4318');
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('names the service after the process role unless OTEL_SERVICE_NAME says otherwise', () => {
    expect(telemetryServiceName(loadConfig({}), 'api')).toBe('roster-api');
    expect(telemetryServiceName(loadConfig({}), 'worker')).toBe('roster-worker');
    expect(telemetryServiceName(loadConfig({}), 'all')).toBe('roster');
    expect(telemetryServiceName(loadConfig({ OTEL_SERVICE_NAME: 'idp-bridge' }), 'api')).toBe('idp-bridge');
  });
});

describe('tracing off', () => {
  it('loads no OpenTelemetry SDK module and no Temporal interceptor in the API and worker processes', async () => {
    // A process of its own: this file loads the SDK itself.
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const script = [
      "import { createRequire } from 'node:module';",
      "await import('./api/http-server.ts');",
      "await import('./worker/runtime.ts');",
      "await import('./core/telemetry.ts').then((t) => t.startTelemetry({ serviceName: 'off' }));",
      'const loaded = Object.keys(createRequire(import.meta.url).cache);',
      'console.log(JSON.stringify(loaded.filter((m) => /@opentelemetry[\\/](?!api[\\/])|interceptors-opentelemetry/.test(m))));',
    ].join('\n');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual([]);
  });
});

describe('telemetry helpers', () => {
  it('do nothing while off, then make spans, carry traceparents and record failures while on', async () => {
    // Off: nothing started, nothing carried, the function still runs.
    expect(await startTelemetry({ serviceName: 'roster-test' })).toBeUndefined();
    expect(tracingEnabled()).toBe(false);
    expect(await inSpan('off', {}, async (span) => (span === undefined ? 'ran' : 'span'))).toBe('ran');
    expect(currentTraceparent()).toBeNull();
    const offHeaders: Record<string, string> = {};
    injectTraceHeaders(offHeaders);
    expect(offHeaders).toEqual({});

    const exporter = new InMemorySpanExporter();
    const telemetry = (await startTelemetry({ serviceName: 'roster-test', spanProcessor: new SimpleSpanProcessor(exporter) }))!;
    try {
      expect(tracingEnabled()).toBe(true);
      const stored = await inSpan('writer', {}, async () => currentTraceparent());
      const writer = exporter.getFinishedSpans().find((s) => s.name === 'writer')!;
      expect(stored).toBe(`00-${writer.spanContext().traceId}-${writer.spanContext().spanId}-01`);

      // A stored traceparent becomes the parent elsewhere, and outgoing headers carry the child.
      const headers: Record<string, string> = {};
      await inSpan('reader', { parent: contextFromTraceparent(stored!) }, async () => injectTraceHeaders(headers));
      const reader = exporter.getFinishedSpans().find((s) => s.name === 'reader')!;
      expect(reader.spanContext().traceId).toBe(writer.spanContext().traceId);
      expect(reader.parentSpanId).toBe(writer.spanContext().spanId);
      expect(headers.traceparent).toBe(`00-${reader.spanContext().traceId}-${reader.spanContext().spanId}-01`);

      await expect(inSpan('failing', {}, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      const failing = exporter.getFinishedSpans().find((s) => s.name === 'failing')!;
      expect(failing.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
      expect(failing.events.map((e) => e.name)).toEqual(['exception']);
    } finally {
      await telemetry.shutdown();
    }
    expect(tracingEnabled()).toBe(false);
    expect(currentTraceparent()).toBeNull();
  });
});
