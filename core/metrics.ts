import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { sql } from 'slonik';
import { z } from 'zod';
import type { Db } from './db/pool.js';

/**
 * Roster's Prometheus metrics: one registry per process, made by the composition root and handed
 * to the app, the relay and the activities (no global registry). Label values are ids and enums,
 * never names, emails or URLs.
 */
export type Metrics = ReturnType<typeof createMetrics>;

const Snapshot = z.object({
  outbox_backlog: z.number(),
  outbox_oldest_seconds: z.number(),
  audit_unsealed: z.number(),
  audit_oldest_unsealed_seconds: z.number(),
  feed_unsealed: z.number(),
  feed_oldest_unsealed_seconds: z.number(),
  guard_holds: z.number(),
  webhook_pending: z.number(),
});

export function createMetrics(options: { process: 'api' | 'worker' | 'all' }) {
  const registry = new Registry();
  registry.setDefaultLabels({ process: options.process });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    scimRequests: new Counter({
      name: 'roster_scim_requests_total',
      help: 'SCIM requests by tenant, resource type, method and status',
      labelNames: ['tenant', 'resource', 'method', 'status'] as const,
      registers,
    }),
    scimDuration: new Histogram({
      name: 'roster_scim_request_duration_seconds',
      help: 'SCIM request latency by resource type and method',
      labelNames: ['resource', 'method'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    relayBatches: new Counter({ name: 'roster_relay_batches_total', help: 'Outbox batches the relay claimed', registers }),
    relaySignals: new Counter({
      name: 'roster_relay_signals_total',
      help: 'Outbox rows signalled to workflows (signal-with-start: a workflow is started when it is not running), by workflow type and outcome',
      labelNames: ['workflow_type', 'outcome'] as const,
      registers,
    }),
    relayDeferred: new Counter({
      name: 'roster_relay_deferred_total',
      help: "Outbox rows the relay deferred for their identity's next step to pull instead of signalling them",
      registers,
    }),
    activityFailures: new Counter({
      name: 'roster_activity_failures_total',
      help: 'Activity attempts that failed, by activity and failure type (retryable when Temporal will try again)',
      labelNames: ['activity', 'failure_type'] as const,
      registers,
    }),
    webhookDeliveries: new Counter({
      name: 'roster_webhook_deliveries_total',
      help: 'Webhook POST attempts by tenant, endpoint and outcome (delivered, failed, gone)',
      labelNames: ['tenant', 'endpoint', 'outcome'] as const,
      registers,
    }),
    webhookLag: new Histogram({
      name: 'roster_webhook_delivery_lag_seconds',
      help: 'From the event being recorded to its delivery, per endpoint',
      labelNames: ['tenant', 'endpoint'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800, 3600, 21600, 86400],
      registers,
    }),
    prunedRows: new Counter({
      name: 'roster_pruned_rows_total',
      help: 'Rows the maintenance schedule deleted past their retention, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

/**
 * Gauges read from the database at scrape time (metrics_snapshot(): counts of pending rows through
 * partial indexes). Registered by the worker, which runs the loops they describe.
 */
export function registerDatabaseGauges(metrics: Metrics, db: Db): void {
  let pending: Promise<z.infer<typeof Snapshot>> | undefined;
  // One query per scrape, shared by every gauge collected in it.
  const snapshot = () => {
    pending ??= db.one(sql.type(Snapshot)`SELECT * FROM metrics_snapshot()`).finally(() => setTimeout(() => (pending = undefined), 100).unref());
    return pending;
  };
  const gauge = (name: string, help: string, read: (s: z.infer<typeof Snapshot>) => number) =>
    new Gauge({
      name,
      help,
      registers: [metrics.registry],
      async collect() {
        this.set(read(await snapshot()));
      },
    });
  gauge('roster_outbox_backlog', 'Outbox rows not yet handed to a workflow', (s) => s.outbox_backlog);
  gauge('roster_outbox_oldest_age_seconds', 'Age of the oldest undelivered outbox row', (s) => s.outbox_oldest_seconds);
  gauge('roster_audit_unsealed', 'Audit events waiting for their hash-chain link', (s) => s.audit_unsealed);
  gauge('roster_audit_sealer_lag_seconds', 'Age of the oldest unsealed audit event', (s) => s.audit_oldest_unsealed_seconds);
  gauge('roster_feed_unsealed', 'Events waiting for their feed position', (s) => s.feed_unsealed);
  gauge('roster_feed_sealer_lag_seconds', 'Age of the oldest event without a feed position', (s) => s.feed_oldest_unsealed_seconds);
  gauge('roster_guard_holds', 'Leavers held by the mass-deprovisioning guard', (s) => s.guard_holds);
  gauge('roster_webhook_pending', 'Webhook deliveries not yet delivered', (s) => s.webhook_pending);
  registerAuditSizeGauges(metrics, db);
}

const AuditSizeRow = z.object({ tenant_id: z.string(), audit_rows: z.number(), audit_bytes: z.number() });

/**
 * The audit log is kept, so its size per tenant is watched instead: rows and bytes as the
 * maintenance schedule last counted them (console_audit_sizes; no scan at scrape time).
 */
function registerAuditSizeGauges(metrics: Metrics, db: Db): void {
  let pending: Promise<readonly z.infer<typeof AuditSizeRow>[]> | undefined;
  const sizes = () => {
    pending ??= db.any(sql.type(AuditSizeRow)`SELECT tenant_id, audit_rows, audit_bytes FROM console_audit_sizes()`).finally(() => setTimeout(() => (pending = undefined), 100).unref());
    return pending;
  };
  const gauge = (name: string, help: string, read: (r: z.infer<typeof AuditSizeRow>) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['tenant'] as const,
      registers: [metrics.registry],
      async collect() {
        this.reset();
        for (const row of await sizes()) this.set({ tenant: row.tenant_id }, read(row));
      },
    });
  gauge('roster_audit_rows', 'Sealed audit events per tenant (the audit log is never pruned)', (r) => r.audit_rows);
  gauge('roster_audit_bytes', 'Bytes of sealed audit events per tenant (row data)', (r) => r.audit_bytes);
}

/** The SCIM resource type of a path under /scim/v2 (`Users`, `Groups`, `Schemas`, …). */
export function scimResource(path: string): string {
  const first = path.split('/')[1] ?? '';
  return /^(Users|Groups|\.search|ServiceProviderConfig|ResourceTypes|Schemas|Bulk|Me)$/i.test(first) ? first.replace(/^\w/, (c) => c.toUpperCase()) : 'other';
}

/**
 * Serves the registry at GET /metrics on a port of its own (METRICS_PORT): scraped from inside the
 * deployment, never exposed with the public API, since its labels name tenants and endpoints.
 */
export async function startMetricsServer(options: { port: number; host: string; registry: Registry }): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    options.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
