import { Client } from '@temporalio/client';
import { DefaultLogger, type LogLevel, makeTelemetryFilterString, NativeConnection, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';
import { appDatabaseUrl, type Config, retentionDays, webhookTargets } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import { type Metrics, registerDatabaseGauges } from '../core/metrics.js';
import { loadSecretsKey } from '../core/secret-box.js';
import { createLifecycleWorker } from './create-worker.js';
import { ensureMaintenanceSchedule } from './maintenance-schedule.js';
import { ensureFleetSweepSchedule } from './fleet-sweep-schedule.js';
import { parseResolverList } from '../core/domains/dns.js';
import { startBackgroundLoops } from './outbox-relay.js';
import { tracingClientInterceptors } from '../activities/client-tracing.js';
import type { Telemetry } from '../core/telemetry.js';

export interface WorkerRuntime {
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
}

const TEMPORAL_LEVELS: Record<Config['LOG_LEVEL'], LogLevel> = {
  fatal: 'ERROR',
  error: 'ERROR',
  warn: 'WARN',
  info: 'WARN', // the SDK's INFO lines (bundling, worker states) are noise at our info level
  debug: 'DEBUG',
  trace: 'TRACE',
  silent: 'ERROR',
};

/**
 * Routes the Temporal SDK's own logs (and its Rust core's) through LOG_LEVEL. Once per process;
 * a process that already installed a runtime (tests) keeps its own.
 */
function installTemporalRuntime(config: Config) {
  const mapped = TEMPORAL_LEVELS[config.LOG_LEVEL];
  try {
    Runtime.install({
      logger: new DefaultLogger(mapped),
      telemetryOptions: {
        logging: { forward: {}, filter: makeTelemetryFilterString({ core: mapped, other: 'ERROR' }) },
        // The SDK's own metrics (workflow completions and failures by type, task latencies, …).
        ...(config.TEMPORAL_METRICS_PORT ? { metrics: { prometheus: { bindAddress: `${config.METRICS_HOST}:${config.TEMPORAL_METRICS_PORT}` } } } : {}),
      },
    });
  } catch {
    // already installed
  }
}

/** Temporal worker + outbox relay + audit sealer, sharing one app-role pool. */
export async function startWorkerRuntime(deps: { config: Config; db: Db; logger: Logger; address: string; metrics?: Metrics; telemetry?: Telemetry | undefined }): Promise<WorkerRuntime> {
  const { config, db, logger, address, metrics, telemetry } = deps;
  installTemporalRuntime(config);
  if (metrics) registerDatabaseGauges(metrics, db);
  const nativeConnection = await NativeConnection.connect({ address });
  // The client (the relay's signal-with-start per outbox row, the activities' signals and starts)
  // goes through the worker's own native connection: a call is then one hop into the SDK's Rust
  // core instead of grpc-js's interceptors, retry wrapper and HTTP/2 framing on this process's main
  // thread, which also runs every activity and the relay (lifecycle hot path, docs/benchmarks.md).
  // Traces: the relay's signals and the activities' starts carry the trace context (activities/client-tracing.ts).
  const interceptors = await tracingClientInterceptors(telemetry?.tracer);
  const client = new Client({ connection: nativeConnection, namespace: config.TEMPORAL_NAMESPACE, ...(interceptors ? { interceptors } : {}) });
  const worker = await createLifecycleWorker({
    connection: nativeConnection,
    client,
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    db,
    roles: config.APP_ROLES,
    secretKey: loadSecretsKey(config),
    maxConcurrentLocalActivities: config.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxConcurrentWorkflowTasks: config.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
    stickyTimeoutMs: config.WORKER_STICKY_TIMEOUT_MS,
    shutdownGraceTimeMs: config.SHUTDOWN_TIMEOUT_MS,
    webhookTargets: webhookTargets(config),
    retention: retentionDays(config),
    maintenanceBatchSize: config.MAINTENANCE_BATCH_SIZE,
    ...(metrics ? { metrics } : {}),
    dnsServers: parseResolverList(config.DNS_RESOLVER),
    approvalHourMs: config.APPROVAL_HOUR_MS,
    campaignHourMs: config.CAMPAIGN_HOUR_MS,
    allowHttpLoopback: config.NODE_ENV !== 'production',
    ...(telemetry ? { telemetry } : {}),
  });
  // Recurring work on Temporal Schedules (pruning and audit sizes; domain re-checks and certificate
  // expiry), created by whichever worker comes first; every replica ensures them. Not a reason to
  // stay down: a worker that cannot create one now tries again later.
  const schedules = [
    keepTrying(() => ensureMaintenanceSchedule(client, { taskQueue: config.TEMPORAL_TASK_QUEUE, interval: config.MAINTENANCE_INTERVAL }), (err) =>
      logger.warn({ err }, 'could not create the maintenance schedule yet; retrying'),
    ),
    keepTrying(() => ensureFleetSweepSchedule(client, { taskQueue: config.TEMPORAL_TASK_QUEUE, everyMinutes: config.FLEET_SWEEP_INTERVAL_MINUTES }), (err) =>
      logger.warn({ err }, 'could not create the fleet sweep schedule yet; retrying'),
    ),
  ];
  const loops = startBackgroundLoops({
    db,
    client,
    taskQueue: config.TEMPORAL_TASK_QUEUE,
    logger,
    pollMs: config.RELAY_POLL_MS,
    batchSize: config.RELAY_BATCH_SIZE,
    streamConcurrency: config.RELAY_STREAM_CONCURRENCY,
    defer: { ms: config.RELAY_DEFER_MS, maxMs: config.RELAY_DEFER_MAX_MS },
    listenUrl: appDatabaseUrl(config),
    ...(metrics ? { metrics } : {}),
    approvals: { hourMs: config.APPROVAL_HOUR_MS, reconcileAfterSeconds: config.APPROVAL_RECONCILE_AFTER_SECONDS },
    campaigns: campaignLoopOptions(config),
  });
  const done = (async () => {
    try {
      await worker.run();
    } finally {
      for (const schedule of schedules) schedule.stop();
      await loops.stop();
      await nativeConnection.close();
    }
  })();
  logger.info({ temporal: address, taskQueue: config.TEMPORAL_TASK_QUEUE }, 'worker running');
  return {
    done,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}

/** The campaign reconciler's settings (tests' stacks use the same mapping). */
export function campaignLoopOptions(config: Config) {
  return {
    hourMs: config.CAMPAIGN_HOUR_MS,
    reconcileMs: config.CAMPAIGN_RECONCILE_MS,
    fullPassMs: config.CAMPAIGN_SCHEDULE_FULL_PASS_MS,
    unstartedAfterSeconds: config.CAMPAIGN_RECONCILE_AFTER_SECONDS,
  };
}

/** Runs `attempt` until it succeeds, waiting 1 s doubling to a minute between failures; `stop` ends the retries. */
function keepTrying(attempt: () => Promise<unknown>, onError: (err: unknown) => void): { stop(): void } {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (delay: number) => {
    attempt().catch((err: unknown) => {
      if (stopped) return;
      onError(err);
      timer = setTimeout(() => run(Math.min(delay * 2, 60_000)), delay);
      timer.unref();
    });
  };
  run(1_000);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
