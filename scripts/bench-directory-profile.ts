/**
 * What one portal directory request costs, measured so that a busy shared machine disturbs it as
 * little as possible (not the full `BENCH_ONLY=directory npm run bench`): a fresh database with one
 * tenant of PROFILE_USERS users (the bench's data), one signed-in session, and for each call of the
 * bench (list first/next page, state filter, four kinds of search) PROFILE_REQUESTS sequential
 * requests:
 *   - round trips per request, counted by the wire-protocol proxy (scripts/lib/bench-pgproxy.ts),
 *     with the statements of the last request;
 *   - CPU per request of the API process (utime + stime from /proc around the N requests, i.e.
 *     what process.cpuUsage() would report inside it) and of all PostgreSQL processes;
 *   - p50 of the sequential latency (no concurrency, so no queueing).
 *
 *   node --import tsx scripts/bench-directory-profile.ts   (PROFILE_USERS=100000 PROFILE_REQUESTS=200,
 *   PROFILE_CPU_PROF=<dir> for a V8 CPU profile of the API process)
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, withTenant } from '../core/db/pool.js';
import { insertConnectionWithToken } from '../core/connections/queries.js';
import { createTenant } from '../core/repositories/tenants.js';
import { FIRST, LAST, loadUsers, signedInSession } from './lib/bench-directory.js';
import { startCountingProxy } from './lib/bench-pgproxy.js';
import { cpuSample, startApiProcess } from './lib/bench-proc.js';
import { freePort } from './lib/temporal-dev-server.js';

const env = process.env;
const USERS = Number(env.PROFILE_USERS ?? 100_000);
const REQUESTS = Number(env.PROFILE_REQUESTS ?? 200);
const base = new URL(env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const dbName = `dirprofile_bench_${randomBytes(3).toString('hex')}`;
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

const stops: (() => Promise<unknown>)[] = [];
await admin(`CREATE DATABASE ${dbName}`);
try {
  await migrate({ databaseUrl: ownerUrl.toString() });
  const owner = await createDatabasePool(ownerUrl.toString(), { maximumPoolSize: 2 });
  const tenant = await createTenant(owner, { slug: 'profile' });
  await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, 'profile'));
  const loadSec = await loadUsers(ownerUrl.toString(), tenant.id, USERS);
  say(`${USERS.toLocaleString('en-US')} users loaded in ${loadSec.toFixed(1)} s`);

  const proxy = await startCountingProxy({ host: base.hostname, port: Number(base.port || 5432) });
  stops.push(() => proxy.close());
  const viaProxy = new URL(appUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const api = await startApiProcess({
    // PROFILE_CPU_PROF=<dir>: a V8 CPU profile of the API process (written when it stops).
    ...(env.PROFILE_CPU_PROF ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${env.PROFILE_CPU_PROF}`] } : {}),
    port: await freePort(),
    env: {
      DATABASE_URL: ownerUrl.toString(),
      APP_DATABASE_URL: viaProxy.toString(),
      LOG_LEVEL: 'silent',
      NODE_ENV: 'production',
      SECRETS_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    },
  });
  stops.push(() => api.stop());
  const cookie = await signedInSession(owner, api.url, tenant.id, 0);
  await owner.end();

  const get = async (path: string) => {
    const res = await fetch(`${api.url}/portal/api${path}`, { headers: { cookie } });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
    return JSON.parse(text) as { next: string | null; total: number | null };
  };
  const firstPage = await get('/users?limit=25');
  let n = 0;
  const person = () => {
    const g = 1 + ((n++ * 7919) % USERS);
    return `${FIRST[(g * 7) % FIRST.length]!}.${LAST[(g * 13) % LAST.length]!}${g}`.toLowerCase();
  };
  const calls: [string, () => string][] = [
    ['list (first page)', () => '/users?limit=25'],
    ['list (next page)', () => `/users?limit=25&cursor=${firstPage.next!}`],
    ['list (state filter)', () => `/users?limit=25&state=${n++ % 2 ? 'suspended' : 'provisioned'}`],
    ['search (common name)', () => `/users?limit=25&search=${[...FIRST, ...LAST][n++ % 20]!.toLowerCase()}`],
    ['search (external id)', () => `/users?limit=25&search=emp-${1 + ((n++ * 7919) % USERS)}`],
    ['search (no match)', () => `/users?limit=25&search=zq${randomBytes(3).toString('hex')}`],
    ['search (one person)', () => `/users?limit=25&search=${encodeURIComponent(person())}`],
  ];
  const rows: string[][] = [['call', 'round trips', 'API CPU ms', 'PostgreSQL CPU ms', 'p50 ms (sequential)']];
  const statements: string[] = [];
  for (const [call, path] of calls) {
    for (let i = 0; i < 20; i++) await get(path());
    proxy.reset();
    const a = cpuSample(api.pid);
    const times: number[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const t0 = performance.now();
      await get(path());
      times.push(performance.now() - t0);
    }
    const b = cpuSample(api.pid);
    const trips = proxy.roundTrips / REQUESTS;
    // /proc ticks are 10 ms: over N requests the error per request is 10/N ms.
    const apiMs = a && b ? ((b.api - a.api) * 10) / REQUESTS : NaN;
    const pgMs = a && b ? ((b.postgres - a.postgres) * 10) / REQUESTS : NaN;
    times.sort((x, y) => x - y);
    rows.push([call, trips.toFixed(2), apiMs.toFixed(2), pgMs.toFixed(2), times[Math.floor(times.length / 2)]!.toFixed(1)]);
    const last = proxy.statements.slice(-Math.round(trips)).map((q) => q.replace(/\s+/g, ' ').slice(0, 110));
    statements.push(`${call}: ${JSON.stringify(last)}`);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) say(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
  say('\nStatements of the last request of each call:');
  for (const s of statements) say(s);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
