import { loadConfig } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';

const config = loadConfig();
await migrate({ databaseUrl: config.DATABASE_URL, appPassword: config.APP_DATABASE_PASSWORD, log: (m) => console.log(m) });
console.log('migrations applied');
