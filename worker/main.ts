import pino from 'pino';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { createDatabasePool } from '../core/db/pool.js';
import { createMetrics, startMetricsServer } from '../core/metrics.js';
import { startWorkerRuntime } from './runtime.js';
import { startTelemetry, telemetryServiceName } from '../core/telemetry.js';
import { lowerProcessPriority } from '../core/process-priority.js';

/** The worker process entry point (production runs it as its own replicated service). */
const config = loadConfig();
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'roster-worker' } });
// Before the SDK starts its threads, so they inherit it (core/config.ts WORKER_NICE).
lowerProcessPriority(config.WORKER_NICE);
const telemetry = await startTelemetry({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: telemetryServiceName(config, 'worker') });
const db = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: config.DATABASE_POOL_SIZE });
const metrics = config.METRICS_PORT === undefined ? undefined : createMetrics({ process: 'worker' });
const metricsServer = metrics ? await startMetricsServer({ port: config.METRICS_PORT!, host: config.METRICS_HOST, registry: metrics.registry }) : undefined;
const runtime = await startWorkerRuntime({ config, db, logger, address: config.TEMPORAL_ADDRESS ?? '127.0.0.1:7233', ...(metrics ? { metrics } : {}), telemetry });
const stop = () => void runtime.stop();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await runtime.done;
await db.end();
await metricsServer?.close();
await telemetry?.shutdown();
logger.info('worker stopped');
