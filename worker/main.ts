import pino from 'pino';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { createDatabasePool } from '../core/db/pool.js';
import { startWorkerRuntime } from './runtime.js';

/** The worker process entry point (production runs it as its own replicated service). */
const config = loadConfig();
const logger = pino({ level: config.LOG_LEVEL, base: { service: 'roster-worker' } });
const db = await createDatabasePool(appDatabaseUrl(config), { maximumPoolSize: config.DATABASE_POOL_SIZE });
const runtime = await startWorkerRuntime({ config, db, logger, address: config.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
const stop = () => void runtime.stop();
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
await runtime.done;
await db.end();
logger.info('worker stopped');
