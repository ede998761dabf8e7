/**
 * A short, targeted SCIM hot-path measurement (not the full `npm run bench`): one API process,
 * `userName eq` lookups and creates for HOT_SECONDS each, the raw-PostgreSQL ceiling for the same
 * work measured right after, API and PostgreSQL CPU per request, and round trips per request
 * counted through the wire-protocol proxy. Made for busy shared machines: compare the ratios.
 *
 *   node --import tsx scripts/bench-hotpath.ts   (HOT_SECONDS=5 HOT_CONNECTIONS=20 HOT_USERS=1000)
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import pg from 'pg';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { insertConnectionWithToken } from '../core/connections/queries.js';
import { createTenant } from '../core/repositories/tenants.js';
import { runHttp, type Scenario } from './lib/bench-http.js';
import { userBody } from './lib/bench-lifecycle.js';
import { bulkLoadUsers, ceilingCreate, ceilingLookup, runPgLoop } from './lib/bench-pg.js';
import { startCountingProxy } from './lib/bench-pgproxy.js';
import { cpuSample, cpuUsage, startApiProcess } from './lib/bench-proc.js';

const env = process.env;
const SECONDS = Number(env.HOT_SECONDS ?? 5);
const CONNECTIONS = Number(env.HOT_CONNECTIONS ?? 20);
const USERS = Number(env.HOT_USERS ?? 1000);
const base = new URL(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const dbName = `hotpath_bench_${randomBytes(3).toString('hex')}`;
const ownerUrl = new URL(base);
ownerUrl.pathname = `/${dbName}`;
const appUrl = appDatabaseUrl(loadConfig({ DATABASE_URL: ownerUrl.toString() }));
const say = (line = '') => process.stdout.write(`${line}\n`);

async function admin(text: string) {
  const u = new URL(base);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(text);
  } finally {
    await c.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const apiEnv = (dbUrl: string) => ({
  DATABASE_URL: ownerUrl.toString(),
  APP_DATABASE_URL: dbUrl,
  LOG_LEVEL: 'silent',
  NODE_ENV: 'production',
  SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  TEMPORAL_ADDRESS: '127.0.0.1:1',
  DATABASE_POOL_SIZE: String(CONNECTIONS),
});

const stops: (() => Promise<unknown>)[] = [];
await admin(`CREATE DATABASE ${dbName}`);
try {
  await migrate({ databaseUrl: ownerUrl.toString() });
  const owner = await createDatabasePool(ownerUrl.toString(), { maximumPoolSize: 2 });
  const mk = async (slug: string) => {
    const t = await createTenant(owner, { slug });
    const c = await withTenant(owner, t.id, (tx) => insertConnectionWithToken(tx, t.id, 'bench'));
    return { id: t.id, token: c.token, connectionId: c.connectionId };
  };
  const reads = await mk('reads');
  const writes = await mk('writes');
  await bulkLoadUsers(ownerUrl.toString(), reads.id, 'small-user-', USERS);
  await owner.end();

  const rand = (n: number) => 1 + Math.floor(Math.random() * n);
  const lookup: Scenario = {
    method: 'GET',
    path: '/scim/v2/Users',
    next: () => ({ path: `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "small-user-${rand(USERS)}"`)}` }),
    expect: (b) => b.includes('"totalResults":1'),
  };
  let seq = 0;
  const create = (prefix: string): Scenario => ({
    method: 'POST',
    path: '/scim/v2/Users',
    next: () => ({ body: userBody(`${prefix}${process.pid}-${seq++}`) }),
  });

  // Round trips per request, sequential, through the counting proxy.
  const proxy = await startCountingProxy({ host: base.hostname, port: Number(base.port || 5432) });
  const viaProxy = new URL(appUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  stops.push(() => proxy.close());
  const papi = await startApiProcess({ port: await freePort(), env: apiEnv(viaProxy.toString()) });
  stops.push(() => papi.stop());
  for (const [name, token, s] of [
    ['lookup', reads.token, lookup],
    ['create', writes.token, create('rt-')],
  ] as const) {
    const send = async () => {
      const { path, body } = s.next();
      const res = await fetch(`${papi.url}${path ?? s.path}`, {
        method: s.method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        ...(body ? { body } : {}),
      });
      await res.text();
      if (!res.ok) throw new Error(`${name}: ${res.status}`);
    };
    for (let i = 0; i < 20; i++) await send();
    proxy.reset();
    const n = 100;
    for (let i = 0; i < n; i++) await send();
    say(`${name}: ${(proxy.roundTrips / n).toFixed(2)} round trips/request; statements of the last: ${JSON.stringify(proxy.statements.slice(-8).map((q) => q.replace(/\s+/g, ' ').slice(0, 90)))}`);
  }
  await papi.stop();
  await proxy.close();

  const api = await startApiProcess({ port: await freePort(), env: apiEnv(appUrl), ...(env.HOT_NODE_ARGS ? { nodeArgs: env.HOT_NODE_ARGS.split(' ') } : {}) });
  stops.push(() => api.stop());
  const measure = async <T>(fn: () => Promise<T>, pid?: number) => {
    const a = cpuSample(pid);
    const result = await fn();
    return { result, cpu: cpuUsage(a, cpuSample(pid), pid !== undefined) };
  };
  const rows: string[] = [];
  const kinds = (env.HOT_KINDS ?? 'lookup,create').split(',') as ('lookup' | 'create')[];
  for (const kind of kinds) {
    const http = await measure(
      () => runHttp({ url: api.url, token: kind === 'lookup' ? reads.token : writes.token, connections: CONNECTIONS, warmupSec: 1, durationSec: SECONDS, scenario: kind === 'lookup' ? lookup : create('h-') }),
      api.pid,
    );
    let i = 0;
    const raw = await measure(() =>
      runPgLoop({
        url: kind === 'lookup' ? ownerUrl.toString() : appUrl,
        concurrency: CONNECTIONS,
        warmupSec: 1,
        durationSec: SECONDS,
        op: (c) => (kind === 'lookup' ? ceilingLookup(c, reads.id, `small-user-${rand(USERS)}`) : ceilingCreate(c, writes.id, writes.connectionId, `raw-${process.pid}-${i++}`)),
      }),
    );
    const r = http.result;
    const perReq = (cores: number | null | undefined, rate: number) => (cores == null ? '–' : ((1000 * cores) / rate).toFixed(2));
    rows.push(
      `${kind}: ${r.reqPerSec.toFixed(0)}/s (p50 ${r.p50} ms, p99 ${r.p99} ms, non2xx ${r.non2xx}, wrong ${r.wrongBodies}) vs raw ${raw.result.opsPerSec.toFixed(0)}/s ` +
        `= ${((100 * r.reqPerSec) / raw.result.opsPerSec).toFixed(0)} %; CPU/request: API ${perReq(http.cpu?.apiCores, r.reqPerSec)} ms, ` +
        `PostgreSQL ${perReq(http.cpu?.postgresCores, r.reqPerSec)} ms (raw: ${perReq(raw.cpu?.postgresCores, raw.result.opsPerSec)} ms); machine busy ${http.cpu?.machineBusyPct} %, other ${http.cpu?.otherCores} cores`,
    );
  }
  await api.stop();
  for (const row of rows) say(row);
} finally {
  // Child API processes and the proxy go first (also after a failure), then the database.
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
