import { Connection } from '@temporalio/client';
import pino from 'pino';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { createDatabasePool } from '../core/db/pool.js';
import { createMetrics, startMetricsServer } from '../core/metrics.js';
import { startHttpServer } from './http-server.js';
import { startTelemetry, telemetryServiceName } from '../core/telemetry.js';

/** The API process entry point (stateless; run any number of replicas). */
const config = loadConfig();
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'roster-api' } });
// Before the app is built: it mounts the SCIM server spans only while tracing is on.
const telemetry = await startTelemetry({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: telemetryServiceName(config, 'api') });
const db = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: config.DATABASE_POOL_SIZE, statementPoolSize: config.DATABASE_STATEMENT_POOL_SIZE });
const temporal = await Connection.connect({ address: config.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' }).catch((err: unknown) => {
  logger.warn({ err }, 'Temporal unreachable at start; /readyz will say so');
  return undefined;
});
const metrics = config.METRICS_PORT === undefined ? undefined : createMetrics({ process: 'api' });
const metricsServer = metrics ? await startMetricsServer({ port: config.METRICS_PORT!, host: config.METRICS_HOST, registry: metrics.registry }) : undefined;
const http = await startHttpServer({ config, db, logger, temporal, ...(metrics ? { metrics } : {}) });
logger.info({ url: http.url }, 'api listening');
const stop = () => {
  void http.close().then(async () => {
    await db.end();
    await temporal?.close();
    await metricsServer?.close();
    await telemetry?.shutdown();
    process.exit(0);
  });
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
