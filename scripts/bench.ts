/**
 * `npm run bench`, in one run on one machine (docs/benchmarks.md):
 *   SCIM part — SCIM throughput and latency of Roster against the ceiling of the same PostgreSQL
 *   with nothing in between;
 *   lifecycle part — joiner latency (SCIM POST → user.provisioned), time to revoke (SCIM PATCH
 *   active=false → every credential introspects inactive), joiner throughput next to the
 *   Temporal dev server's ceiling for an empty workflow;
 *   IdP run (issue 6) — an Okta-style and an Entra-style provisioning run (lookup-then-create
 *   initial sync, group push in PATCHes of 256, churn) at 20 requests in flight through the API
 *   and a worker, per-phase requests/s, p50/p99, errors, PostgreSQL deadlocks, a read-back of every
 *   user and group against the simulated IdP's model, and the raw-PostgreSQL ceiling for inserting
 *   the same membership rows (scripts/lib/bench-idp.ts, scripts/lib/idp-sim.ts).
 *
 * What runs where: PostgreSQL (external), the API (api/server.ts, its own Node process), a
 * Temporal dev server, in the lifecycle part the worker (worker/main.ts, its own Node process),
 * and this process, which generates the load (autocannon / fetch for HTTP, a raw `pg` loop for
 * the ceilings, and the empty workflows' worker) and never shares an event loop with the API.
 * In the SCIM part no worker runs: the outbox just accumulates.
 *
 * Environment:
 *   BENCH_ONLY=scim|lifecycle|idp|listing  run one part only (default: all four, in that order)
 *   BENCH_ONLY=approvals    decision latency of change requests (issue 8; also in the default run,
 *                           after the portal part): BENCH_APPROVALS_SAMPLES (200) per round,
 *                           _CONCURRENCY (10) decided at once in the second round, _WARMUP (10)
 *   BENCH_ONLY=campaigns    issue 9 (also in the default run, last): time to generate a campaign of
 *                           BENCH_CAMPAIGN_PEOPLE (100000) items through the worker (target < 60 s),
 *                           its history events, the worker's peak RSS, and BENCH_CAMPAIGN_REVOKES
 *                           (2000) revoke decisions recorded and applied by the mover per second;
 *                           BENCH_CAMPAIGN_BATCH (the workflow's 2000) people per batch;
 *                           BENCH_CAMPAIGN_ANALYZE=0 generates on statistics-less tables
 *   BENCH_LISTING_SIZES     tenant sizes for the listing part (default 10000,100000,1000000)
 *   BENCH_ONLY=directory    the portal directory's list and search (issue 7; only when asked for):
 *                           BENCH_DIRECTORY_USERS (100000), _SESSIONS (10), _DURATION seconds (20)
 *   BENCH_DATABASE_URL      owner URL of the bench database (dropped and re-created!)
 *                           default postgres://postgres@127.0.0.1:5432/roster_bench
 *   BENCH_TEMPORAL_ADDRESS  use this Temporal instead of starting a dev server
 *   BENCH_TEMPORAL_NICE     niceness of the dev server the bench starts (default 10: as `npm start`
 *                           runs its own, at the worker's WORKER_NICE; 0 runs it at the API's)
 *   BENCH_DURATION          seconds per measurement (default 10), after BENCH_WARMUP (default 2)
 *   BENCH_CONNECTIONS       HTTP connections / raw-driver clients (default 50)
 *   BENCH_USERS_SMALL       users in the small tenant (default 1000; also the PATCH targets)
 *   BENCH_USERS_LARGE       users in the large tenant (default 1000000)
 *   BENCH_API_POOL_SIZE     DATABASE_POOL_SIZE of the API process (default: the API's own, 20)
 *   BENCH_QUIET_WAIT        max seconds to wait for an idle machine before each measurement (120)
 *   BENCH_PROFILE=0         skip the round-trip profile
 *   BENCH_API_NODE_ARGS     extra Node flags for the measured API process, e.g.
 *                           "--cpu-prof --cpu-prof-dir=.data/prof" (written when the API stops)
 *   BENCH_WORKER_NODE_ARGS  the same for the lifecycle part's worker process (worker/main.ts)
 *   BENCH_RELAY_POLL_MS     that worker's RELAY_POLL_MS, its idle outbox poll (default 500, production's: NOTIFY wakes the relay at each commit; 10 reproduces runs before 2026-12-01)
 *   BENCH_LIFECYCLE_USERS   joiners for the throughput run, and empty workflows for the ceiling (10000)
 *   BENCH_LIFECYCLE_CONCURRENCY  concurrent SCIM POSTs / workflow starts in those runs (20)
 *   BENCH_JOINER_USERS, BENCH_JOINER_CONCURRENCY   joiner latency run (200, 10)
 *   BENCH_REVOKE_USERS, BENCH_REVOKE_CONCURRENCY   time-to-revoke run (200, 10)
 *   BENCH_IDP_USERS, BENCH_IDP_GROUPS   IdP run directory size, per dialect (10000, 50)
 *   BENCH_IDP_GROUPS_PER_USER    groups each user is pushed into (3)
 *   BENCH_IDP_CONCURRENCY        requests in flight, and raw clients for the ceiling (20)
 *   BENCH_IDP_BATCH              members per group PATCH (256)
 *   BENCH_IDP_DIALECTS           comma-separated, okta and/or entra (okta,entra)
 *   BENCH_IDP_WORKER=0           run the IdP part without a worker (default: with, as npm start)
 *   BENCH_IDP_DRAIN_WAIT         max seconds to wait for the worker to catch up after a phase (600)
 *   BENCH_IDP_SEED               seed of the simulated directory and churn (1)
 *   BENCH_IDP_CEILING_SEC        measured seconds of the membership-insert ceiling (5)
 *   BENCH_FIRST_ACCESS_USERS, BENCH_FIRST_ACCESS_CONCURRENCY   time to first access during an
 *                           initial sync: SCIM POST → a session issued for that user introspects
 *                           active (10000, BENCH_LIFECYCLE_CONCURRENCY)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { appDatabaseUrl, loadConfig } from '../core/config.js';
import { migrate } from '../core/db/migrate.js';
import { createDatabasePool, type Db, withTenant } from '../core/db/pool.js';
import { createAppKey } from '../core/repositories/app-keys.js';
import { insertConnectionWithToken } from '../core/connections/queries.js';
import { createTenant } from '../core/repositories/tenants.js';
import { type HttpResult, runHttp, type Scenario } from './lib/bench-http.js';
import { benchListing, type ListingResult, listingTable } from './lib/bench-listing.js';
import { directoryPart } from './lib/bench-directory.js';
import { approvalsPart } from './lib/bench-approvals.js';
import { campaignsPart } from './lib/bench-campaigns.js';
import { bulkLoadUsers, ceilingCreate, ceilingLookup, type LoopResult, runPgLoop, userIds } from './lib/bench-pg.js';
import { idpPart, type IdpRunConfig } from './lib/bench-idp.js';
import { startCountingProxy } from './lib/bench-pgproxy.js';
import type { DialectName } from './lib/idp-sim.js';
import {
  EventWatcher,
  installEventNotify,
  joinerBreakdown,
  type LatencyStats,
  latencyStats,
  measureEmptyWorkflows,
  measureFirstAccess,
  measureJoiners,
  measureRevokes,
  measureThroughput,
  prepareRevokes,
  type RevokeSample,
  userBody,
  workerPolling,
} from './lib/bench-lifecycle.js';
import {
  type ApiProcess,
  cpuSample,
  type CpuUsage,
  cpuUsage,
  machineBusyPct,
  type NodeProcess,
  startApiProcess,
  startNodeProcess,
} from './lib/bench-proc.js';
import { measurePortalFirstLoad, type PortalSizeResult } from './lib/bench-portal-size.js';
import { type DevServer, freePort, startDevServer } from './lib/temporal-dev-server.js';
import { ensureTemporalCli } from './setup-temporal.mjs';

const env = process.env;
const num = (name: string, fallback: number) => {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
};
const ownerUrl = env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/roster_bench';
const DURATION = num('BENCH_DURATION', 10);
const WARMUP = env.BENCH_WARMUP === '0' ? 0 : num('BENCH_WARMUP', 2);
const CONNECTIONS = num('BENCH_CONNECTIONS', 50);
const USERS_SMALL = num('BENCH_USERS_SMALL', 1000);
const USERS_LARGE = num('BENCH_USERS_LARGE', 1_000_000);
const PROFILE = env.BENCH_PROFILE !== '0';
const TARGETS = { createShare: 60, lookupShare: 40, p99Ms: 50 };
const ONLY = env.BENCH_ONLY ?? '';
const PARTS = ['scim', 'lifecycle', 'idp', 'listing', 'portal', 'directory', 'approvals', 'campaigns'];
if (ONLY !== '' && !PARTS.includes(ONLY)) throw new Error(`BENCH_ONLY must be one of ${PARTS.join(', ')}`);
const RUN_SCIM = ONLY === '' || ONLY === 'scim';
/** The dev server's niceness: `npm start` runs its own at the worker's (WORKER_NICE, default 10). */
const TEMPORAL_NICE = Number(env.BENCH_TEMPORAL_NICE ?? 10);
const RUN_LIFECYCLE = ONLY === '' || ONLY === 'lifecycle';
const RUN_IDP = ONLY === '' || ONLY === 'idp';
const RUN_LISTING = ONLY === '' || ONLY === 'listing';
const RUN_PORTAL = ONLY === '' || ONLY === 'portal';
const RUN_DIRECTORY = ONLY === 'directory';
const RUN_APPROVALS = ONLY === '' || ONLY === 'approvals';
const RUN_CAMPAIGNS = ONLY === '' || ONLY === 'campaigns';
const LISTING_SIZES = (env.BENCH_LISTING_SIZES ?? '10000,100000,1000000').split(',').map((s) => {
  const n = Number(s.trim());
  if (!Number.isInteger(n) || n <= 0) throw new Error('BENCH_LISTING_SIZES must be a comma-separated list of positive integers');
  return n;
});
const IDP_DIALECTS = (env.BENCH_IDP_DIALECTS ?? 'okta,entra').split(',').map((s) => s.trim()).filter(Boolean) as DialectName[];
if (!IDP_DIALECTS.length || IDP_DIALECTS.some((d) => d !== 'okta' && d !== 'entra')) throw new Error('BENCH_IDP_DIALECTS must list okta and/or entra');
const IDP_CONFIG: IdpRunConfig = {
  users: num('BENCH_IDP_USERS', 10_000),
  groups: num('BENCH_IDP_GROUPS', 50),
  groupsPerUser: num('BENCH_IDP_GROUPS_PER_USER', 3),
  concurrency: num('BENCH_IDP_CONCURRENCY', 20),
  batchSize: num('BENCH_IDP_BATCH', 256),
  seed: num('BENCH_IDP_SEED', 1),
  drainWaitSec: num('BENCH_IDP_DRAIN_WAIT', 600),
  ceilingMinSec: num('BENCH_IDP_CEILING_SEC', 5),
};
const LIFECYCLE_USERS = num('BENCH_LIFECYCLE_USERS', 10_000);
const LIFECYCLE_CONCURRENCY = num('BENCH_LIFECYCLE_CONCURRENCY', 20);
const JOINER_USERS = num('BENCH_JOINER_USERS', 200);
const JOINER_CONCURRENCY = num('BENCH_JOINER_CONCURRENCY', 10);
const REVOKE_USERS = num('BENCH_REVOKE_USERS', 200);
const REVOKE_CONCURRENCY = num('BENCH_REVOKE_CONCURRENCY', 10);
const FIRST_ACCESS_USERS = num('BENCH_FIRST_ACCESS_USERS', 10_000);
/** The lifecycle worker's idle poll of the outbox (NOTIFY wakes it sooner; production's default is 500). */
const RELAY_POLL_MS = num('BENCH_RELAY_POLL_MS', 500);
const FIRST_ACCESS_CONCURRENCY = num('BENCH_FIRST_ACCESS_CONCURRENCY', LIFECYCLE_CONCURRENCY);
/** Issue 3: SCIM deactivation → every credential introspects inactive, p99 under 100 ms. */
const REVOKE_TARGET_MS = 100;

const appUrl = appDatabaseUrl(loadConfig({ ...env, DATABASE_URL: ownerUrl }));
const apiPoolSize = env.BENCH_API_POOL_SIZE ?? env.DATABASE_POOL_SIZE ?? String(loadConfig({}).DATABASE_POOL_SIZE);
// The API runs with NODE_ENV=production, which requires a secrets key: a throwaway one will do.
const secretsKey = env.SECRETS_ENCRYPTION_KEY ?? randomBytes(32).toString('base64');
const apiEnv = (temporalAddress: string, appDatabaseUrl: string): Record<string, string> => ({
  DATABASE_URL: ownerUrl,
  APP_DATABASE_URL: appDatabaseUrl,
  LOG_LEVEL: 'silent',
  NODE_ENV: 'production',
  SECRETS_ENCRYPTION_KEY: secretsKey,
  TEMPORAL_ADDRESS: temporalAddress,
  DATABASE_POOL_SIZE: apiPoolSize,
});
const say = (line = '') => process.stdout.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Cleanup: every child and pool is stopped at the end, on failure and on Ctrl-C.

const cleanups: (() => Promise<unknown>)[] = [];
let stopping = false;
async function shutdown(code: number) {
  if (stopping) return;
  stopping = true;
  for (const c of cleanups.reverse()) await c().catch(() => {});
  process.exit(code);
}
process.on('SIGINT', () => {
  say('\ninterrupted: stopping child processes');
  void shutdown(130);
});
process.on('SIGTERM', () => void shutdown(143));

// ---------------------------------------------------------------------------------------------

interface Measured<T> {
  result: T;
  cpu: CpuUsage | null;
}

/**
 * On a shared machine another job's CPU shows up as lost throughput: before each measurement
 * wait (up to BENCH_QUIET_WAIT seconds, default 120) for a 2 s window with the machine < 15 % busy.
 */
async function waitForQuiet() {
  const deadline = Date.now() + num('BENCH_QUIET_WAIT', 120) * 1000;
  let busy = await machineBusyPct(2000);
  if (busy === null || busy < 15) return;
  say(`        machine ${busy} % busy with other work: waiting for it to calm down`);
  while (busy !== null && busy >= 15 && Date.now() < deadline) busy = await machineBusyPct(2000);
  if (busy !== null && busy >= 15) say(`        still ${busy} % busy: measuring anyway (see "other processes" below)`);
}

async function measured<T>(api: ApiProcess | undefined, fn: () => Promise<T>, extraPids: Record<string, number | undefined> = {}): Promise<Measured<T>> {
  await waitForQuiet();
  // The CPU window covers warm-up too; both phases run the same load.
  const a = cpuSample(api?.pid, extraPids);
  const result = await fn();
  return { result, cpu: cpuUsage(a, cpuSample(api?.pid, extraPids), !!api) };
}

async function recreateDatabase(url: string) {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/bench/i.test(name)) throw new Error(`refusing to drop "${name}": the bench database's name must contain "bench"`);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await c.end();
  }
  await migrate({ databaseUrl: url, appPassword: env.APP_DATABASE_PASSWORD });
}

async function ownerQuery<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    return (await c.query<R>(text, values)).rows;
  } finally {
    await c.end();
  }
}

/** Flushes dirty pages between phases so one phase's checkpoint does not land in the next. */
const checkpoint = () => ownerQuery('CHECKPOINT').catch(() => undefined);

async function tenantWithToken(owner: Db, slug: string) {
  const tenant = await createTenant(owner, { slug });
  const conn = await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, 'bench'));
  return { id: tenant.id, token: conn.token, connectionId: conn.connectionId };
}

const rand = (n: number) => 1 + Math.floor(Math.random() * n);
const lookupPath = (userName: string) => `/scim/v2/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`;

function createScenario(prefix: string): Scenario {
  let n = 0;
  return {
    method: 'POST',
    path: '/scim/v2/Users',
    next: () => {
      const userName = `${prefix}${++n}`;
      return { body: userBody(userName) };
    },
  };
}

function patchScenario(ids: string[]): Scenario {
  let n = 0;
  return {
    method: 'PATCH',
    path: `/scim/v2/Users/${ids[0]}`,
    next: () => ({
      path: `/scim/v2/Users/${ids[rand(ids.length) - 1]}`,
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'displayName', value: `Patched ${++n}` }],
      }),
    }),
  };
}

function lookupScenario(prefix: string, users: number): Scenario {
  return {
    method: 'GET',
    path: lookupPath(`${prefix}1`),
    next: () => ({ path: lookupPath(`${prefix}${rand(users)}`) }),
    expect: (body) => body.includes('"totalResults":1,'),
  };
}

async function http(api: ApiProcess, token: string, scenario: Scenario): Promise<Measured<HttpResult>> {
  return measured(api, () =>
    runHttp({ url: api.url, token, connections: CONNECTIONS, warmupSec: WARMUP, durationSec: DURATION, scenario }),
  );
}

async function loop(url: string, op: Parameters<typeof runPgLoop>[0]['op']): Promise<Measured<LoopResult>> {
  return measured(undefined, () => runPgLoop({ url, concurrency: CONNECTIONS, warmupSec: WARMUP, durationSec: DURATION, op }));
}

/** One request of each kind, checked, before any load: a broken scenario fails fast. */
async function sanityCheck(api: ApiProcess, token: string, scenarios: Record<string, Scenario>) {
  for (const [name, s] of Object.entries(scenarios)) {
    const { path, body } = s.next();
    const res = await fetch(`${api.url}${path ?? s.path}`, {
      method: s.method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      ...(body ? { body } : {}),
    });
    const text = await res.text();
    if (!res.ok || (s.expect && !s.expect(text))) throw new Error(`sanity check "${name}" failed: ${res.status} ${text.slice(0, 300)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Round-trip profile: a second API process whose app pool goes through a counting proxy; a few
// hundred sequential requests of each kind give the PostgreSQL round trips (and statements) one
// request costs, and its unloaded latency.

interface ProfileEntry {
  roundTripsPerRequest: number;
  statements: string[];
  sequentialMsPerRequest: number;
}

async function profileRoundTrips(temporalAddress: string, tenants: { small: { token: string }; writes: { token: string } }, patchIds: string[]) {
  const db = new URL(appUrl);
  const proxy = await startCountingProxy({ host: db.hostname, port: Number(db.port || 5432) });
  cleanups.push(() => proxy.close());
  const viaProxy = new URL(appUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const api = await startApiProcess({
    port: await freePort(),
    env: apiEnv(temporalAddress, viaProxy.toString()),
  });
  cleanups.push(() => api.stop());
  const kinds: [string, string, Scenario][] = [
    ['create', tenants.writes.token, createScenario('profile-')],
    ['patch', tenants.small.token, patchScenario(patchIds)],
    ['lookup', tenants.small.token, lookupScenario('small-user-', USERS_SMALL)],
  ];
  const out: Record<string, ProfileEntry> = {};
  for (const [name, token, s] of kinds) {
    const send = async () => {
      const { path, body } = s.next();
      const res = await fetch(`${api.url}${path ?? s.path}`, {
        method: s.method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        ...(body ? { body } : {}),
      });
      await res.text();
      if (!res.ok) throw new Error(`profile ${name}: ${res.status}`);
    };
    for (let i = 0; i < 20; i++) await send(); // connections opened, plans warm
    proxy.reset();
    await send();
    const statements = proxy.statements.slice();
    const n = 300;
    proxy.reset();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await send();
    const ms = (performance.now() - t0) / n;
    out[name] = { roundTripsPerRequest: proxy.roundTrips / n, statements, sequentialMsPerRequest: ms };
  }
  await api.stop();
  await proxy.close();
  return out;
}

// ---------------------------------------------------------------------------------------------

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const ms = (n: number) => `${fmt(n, n < 10 ? 1 : 0)} ms`;
const verdict = (ok: boolean) => (ok ? 'ok' : 'MISS');
const perOp = (cores: number | null | undefined, rate: number) => (cores === null || cores === undefined ? '–' : `${fmt((1000 * cores) / rate, 2)} ms`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}
// ---------------------------------------------------------------------------------------------
// Part 1: SCIM requests against raw-PostgreSQL ceilings (no worker).

interface PartReport {
  rows: string[][];
  /** Prints the part's details; true when something failed. */
  details(): boolean;
  json: Record<string, unknown>;
}

async function scimPart(temporalAddress: string): Promise<PartReport> {
  const owner = await createDatabasePool(ownerUrl, { maximumPoolSize: 2 });
  cleanups.push(() => owner.end());
  const tenants = {
    writes: await tenantWithToken(owner, 'bench-writes'),
    small: await tenantWithToken(owner, 'bench-small'),
    large: await tenantWithToken(owner, 'bench-large'),
  };
  await owner.end();
  cleanups.pop();

  const loadSmall = await bulkLoadUsers(ownerUrl, tenants.small.id, 'small-user-', USERS_SMALL);
  say(`[setup] ${USERS_SMALL} users loaded into tenant bench-small in ${fmt(loadSmall, 1)} s`);
  const patchIds = await userIds(ownerUrl, tenants.small.id, USERS_SMALL);

  const api = await startApiProcess({
    port: await freePort(),
    nodeArgs: env.BENCH_API_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [],
    env: apiEnv(temporalAddress, appUrl),
  });
  cleanups.push(() => api.stop());
  say(`[setup] API process pid ${api.pid} at ${api.url} (DATABASE_POOL_SIZE=${apiPoolSize}, LOG_LEVEL=silent)`);
  say('[setup] no worker runs: the SCIM path only writes the outbox, which simply accumulates during this part');

  const scenarios = {
    create: createScenario('bench-user-'),
    patch: patchScenario(patchIds),
    lookupSmall: lookupScenario('small-user-', USERS_SMALL),
    lookupLarge: lookupScenario('large-user-', USERS_LARGE),
  };
  await sanityCheck(api, tenants.writes.token, { create: scenarios.create });
  await sanityCheck(api, tenants.small.token, { patch: scenarios.patch, lookup: scenarios.lookupSmall });

  // Lookups at the small size first, before PATCH touches the same rows.
  say(`\n[run] Roster lookups, ${USERS_SMALL} users`);
  const rosterLookupSmall = await http(api, tenants.small.token, scenarios.lookupSmall);
  say(`[run] ceiling lookups (raw pg, owner role), ${USERS_SMALL} users`);
  const ceilingLookupSmall = await loop(ownerUrl, (c) => ceilingLookup(c, tenants.small.id, `small-user-${rand(USERS_SMALL)}`));

  await checkpoint();
  say('[run] Roster creates');
  const rosterCreate = await http(api, tenants.writes.token, scenarios.create);
  await checkpoint();
  say('[run] ceiling creates (raw pg transaction as roster_app, RLS on)');
  let ceilingN = 0;
  const ceilingCreates = await loop(appUrl, (c) => ceilingCreate(c, tenants.writes.id, tenants.writes.connectionId, `ceiling-user-${++ceilingN}`));

  await checkpoint();
  say(`[run] Roster PATCH replace displayName on ${patchIds.length} users`);
  const rosterPatch = await http(api, tenants.small.token, scenarios.patch);

  say(`\n[setup] bulk-loading ${USERS_LARGE} users into tenant bench-large (one INSERT … SELECT generate_series, then ANALYZE)`);
  const loadLarge = await bulkLoadUsers(ownerUrl, tenants.large.id, 'large-user-', USERS_LARGE);
  say(`[setup] loaded in ${fmt(loadLarge, 1)} s`);
  await checkpoint();
  say(`[run] Roster lookups, ${USERS_LARGE} users`);
  const rosterLookupLarge = await http(api, tenants.large.token, scenarios.lookupLarge);
  say(`[run] ceiling lookups (raw pg, owner role), ${USERS_LARGE} users`);
  const ceilingLookupLarge = await loop(ownerUrl, (c) => ceilingLookup(c, tenants.large.id, `large-user-${rand(USERS_LARGE)}`));

  await api.stop();
  cleanups.pop();

  let profile: Record<string, ProfileEntry> | undefined;
  if (PROFILE) {
    say('\n[profile] PostgreSQL round trips per request (second API process behind a counting proxy, sequential requests)');
    profile = await profileRoundTrips(temporalAddress, tenants, patchIds);
  }

  const share = (r: number, c: number) => (100 * r) / c;
  const createShare = share(rosterCreate.result.reqPerSec, ceilingCreates.result.opsPerSec);
  const lookupShare = share(rosterLookupSmall.result.reqPerSec, ceilingLookupSmall.result.opsPerSec);
  const lookupShareLarge = share(rosterLookupLarge.result.reqPerSec, ceilingLookupLarge.result.opsPerSec);
  const p99ok = (r: HttpResult) => r.p99 <= TARGETS.p99Ms;

  const rows = [
    [
      'creates (POST /Users)',
      fmt(rosterCreate.result.reqPerSec),
      ms(rosterCreate.result.p50),
      ms(rosterCreate.result.p99),
      fmt(ceilingCreates.result.opsPerSec),
      ms(ceilingCreates.result.p50),
      ms(ceilingCreates.result.p99),
      `${fmt(createShare)} %`,
      `≥${TARGETS.createShare} %: ${verdict(createShare >= TARGETS.createShare)}; p99: ${verdict(p99ok(rosterCreate.result))}`,
    ],
    [
      `userName eq lookups (${USERS_SMALL} users)`,
      fmt(rosterLookupSmall.result.reqPerSec),
      ms(rosterLookupSmall.result.p50),
      ms(rosterLookupSmall.result.p99),
      fmt(ceilingLookupSmall.result.opsPerSec),
      ms(ceilingLookupSmall.result.p50),
      ms(ceilingLookupSmall.result.p99),
      `${fmt(lookupShare)} %`,
      `≥${TARGETS.lookupShare} %: ${verdict(lookupShare >= TARGETS.lookupShare)}; p99: ${verdict(p99ok(rosterLookupSmall.result))}`,
    ],
    [
      `userName eq lookups (${USERS_LARGE} users)`,
      fmt(rosterLookupLarge.result.reqPerSec),
      ms(rosterLookupLarge.result.p50),
      ms(rosterLookupLarge.result.p99),
      fmt(ceilingLookupLarge.result.opsPerSec),
      ms(ceilingLookupLarge.result.p50),
      ms(ceilingLookupLarge.result.p99),
      `${fmt(lookupShareLarge)} %`,
      `≥${TARGETS.lookupShare} %: ${verdict(lookupShareLarge >= TARGETS.lookupShare)}; p99: ${verdict(p99ok(rosterLookupLarge.result))}`,
    ],
    [
      'PATCH replace displayName',
      fmt(rosterPatch.result.reqPerSec),
      ms(rosterPatch.result.p50),
      ms(rosterPatch.result.p99),
      '–',
      '–',
      '–',
      '–',
      `p99: ${verdict(p99ok(rosterPatch.result))}`,
    ],
  ];

  const httpRuns = { create: rosterCreate, lookupSmall: rosterLookupSmall, lookupLarge: rosterLookupLarge, patch: rosterPatch };
  const pgRuns = { create: ceilingCreates, lookupSmall: ceilingLookupSmall, lookupLarge: ceilingLookupLarge };

  const details = () => {
    say(`\nSCIM targets: creates ≥ ${TARGETS.createShare} % of ceiling, lookups ≥ ${TARGETS.lookupShare} % of ceiling, Roster p99 ≤ ${TARGETS.p99Ms} ms.`);
    say(
      `Lookup flatness: ${fmt(rosterLookupSmall.result.reqPerSec)} req/s at ${USERS_SMALL} users vs ${fmt(rosterLookupLarge.result.reqPerSec)} at ${USERS_LARGE} ` +
        `(${fmt(share(rosterLookupLarge.result.reqPerSec, rosterLookupSmall.result.reqPerSec))} %); ceiling ` +
        `${fmt(ceilingLookupSmall.result.opsPerSec)} vs ${fmt(ceilingLookupLarge.result.opsPerSec)}/s.`,
    );

    say('\nSCIM errors (all must be 0)');
    let bad = false;
    for (const [name, m] of Object.entries(httpRuns)) {
      const r = m.result;
      const wrong = r.non2xx + r.errors + r.timeouts + r.wrongBodies;
      bad ||= wrong > 0;
      say(`  Roster ${name.padEnd(12)} non-2xx ${r.non2xx}, socket errors ${r.errors}, timeouts ${r.timeouts}, wrong bodies ${r.wrongBodies}  (status codes ${JSON.stringify(r.statusCodes)})`);
    }
    for (const [name, m] of Object.entries(pgRuns)) {
      bad ||= m.result.errors > 0;
      say(`  ceiling ${name.padEnd(11)} errors ${m.result.errors}${m.result.firstError ? ` (first: ${m.result.firstError})` : ''}`);
    }

    say(`\nCPU during each SCIM run (cores: 1.0 = one core busy, machine has ${os.cpus().length}; CPU/op = cores × 1000 / ops per second, the number least disturbed by other load)`);
    const cpuRows = [['run', 'ops/s', 'API process', 'PostgreSQL', 'load generator', 'other processes', 'machine busy', 'API CPU/op', 'PostgreSQL CPU/op']];
    const cpuOf = (name: string, c: CpuUsage | null, rate: number) => [
      name,
      fmt(rate),
      fmt(c?.apiCores, 2),
      fmt(c?.postgresCores, 2),
      fmt(c?.benchCores, 2),
      fmt(c?.otherCores, 2),
      c ? `${c.machineBusyPct} %` : '–',
      perOp(c?.apiCores, rate),
      perOp(c?.postgresCores, rate),
    ];
    for (const [k, m] of Object.entries(httpRuns)) cpuRows.push(cpuOf(`Roster ${k}`, m.cpu, m.result.reqPerSec));
    for (const [k, m] of Object.entries(pgRuns)) cpuRows.push(cpuOf(`ceiling ${k}`, m.cpu, m.result.opsPerSec));
    say(table(cpuRows));

    if (profile) {
      say('\nRound trips to PostgreSQL per request (sequential, unloaded) vs the ceiling: create 6, lookup 1');
      for (const [name, p] of Object.entries(profile)) {
        say(`  ${name.padEnd(7)} ${fmt(p.roundTripsPerRequest, 1)} round trips, ${fmt(p.sequentialMsPerRequest, 2)} ms/request sequential`);
        for (const s of p.statements) say(`            ${s.length > 110 ? `${s.slice(0, 107)}...` : s}`);
      }
    }
    return bad;
  };

  return {
    rows,
    details,
    json: {
      setup: {
        connections: CONNECTIONS,
        warmupSec: WARMUP,
        durationSec: DURATION,
        usersSmall: USERS_SMALL,
        usersLarge: USERS_LARGE,
        apiPoolSize: Number(apiPoolSize),
        worker: 'not running (outbox accumulates)',
        bulkLoadSeconds: { small: loadSmall, large: loadLarge },
      },
      targets: TARGETS,
      roster: httpRuns,
      ceiling: pgRuns,
      shares: { createPct: createShare, lookupPct: lookupShare, lookupLargePct: lookupShareLarge },
      profile,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Part 2: the lifecycle, end to end through a real worker process.

async function lifecyclePart(temporalAddress: string, temporal: DevServer | undefined): Promise<PartReport> {
  const extraPids = (worker?: NodeProcess): Record<string, number | undefined> => ({ worker: worker?.pid, temporal: temporal?.process.pid });

  say('\n[lifecycle setup] bench-only NOTIFY trigger on events (user.provisioned, user.suspended): the bench takes the commit time from LISTEN');
  await installEventNotify(ownerUrl);
  // The SCIM part leaves its outbox undelivered; a worker would now start thousands of workflows
  // for it in the middle of the measurements. Those rows are marked delivered instead.
  const [backlog] = await ownerQuery<{ n: string }>(
    `WITH d AS (UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL RETURNING 1) SELECT count(*)::text AS n FROM d`,
  );
  if (Number(backlog?.n)) say(`[lifecycle setup] ${backlog!.n} undelivered outbox rows of the SCIM part marked delivered (no workflows for them)`);

  const owner = await createDatabasePool(ownerUrl, { maximumPoolSize: 2 });
  cleanups.push(() => owner.end());
  const joiners = await tenantWithToken(owner, 'bench-lifecycle');
  const bulk = await tenantWithToken(owner, 'bench-throughput');
  const sync = await tenantWithToken(owner, 'bench-first-access');
  const { appKey } = await withTenant(owner, joiners.id, (tx) => createAppKey(tx, joiners.id));
  const { appKey: syncAppKey } = await withTenant(owner, sync.id, (tx) => createAppKey(tx, sync.id));
  await owner.end();
  cleanups.pop();
  // A default role, so the joiner really grants one; the mass-deprovisioning guard out of the way
  // of 250 deliberate leavers (the guard has its own tests; here it would hold the leavers).
  await ownerQuery(`UPDATE tenants SET default_role = 'member', guard_max_suspensions = 1000000, guard_max_share = 1 WHERE id = ANY($1::uuid[])`, [
    [joiners.id, bulk.id, sync.id],
  ]);

  const watcher = new EventWatcher(ownerUrl);
  await watcher.start();
  cleanups.push(() => watcher.stop());

  const taskQueue = `roster-bench-${randomBytes(4).toString('hex')}`;
  const api = await startApiProcess({ port: await freePort(), env: { ...apiEnv(temporalAddress, appUrl), TEMPORAL_TASK_QUEUE: taskQueue } });
  cleanups.push(() => api.stop());
  say(`[lifecycle setup] API process pid ${api.pid} at ${api.url}; task queue ${taskQueue}`);

  // The dev server's ceiling first, before the Roster worker exists (its idle polling would be noise).
  say(`\n[run] Temporal ceiling: ${LIFECYCLE_USERS} empty workflows, ${LIFECYCLE_CONCURRENCY} concurrent starts, worker in the bench process`);
  const empty = await measureEmptyWorkflows({
    address: temporalAddress,
    taskQueue: `${taskQueue}-empty`,
    workflows: LIFECYCLE_USERS,
    concurrency: LIFECYCLE_CONCURRENCY,
    progress: say,
    measure: (fn) => measured(undefined, fn, extraPids()),
  });
  say(`        ${empty.result.completed} completed in ${fmt(empty.result.seconds, 1)} s: ${fmt(empty.result.workflowsPerSec)} workflows/s (starts took ${fmt(empty.result.startSeconds, 1)} s)`);

  const worker = await startNodeProcess({
    script: 'worker/main.ts',
    name: 'worker',
    nodeArgs: env.BENCH_WORKER_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [],
    env: { ...apiEnv(temporalAddress, appUrl), TEMPORAL_TASK_QUEUE: taskQueue, RELAY_POLL_MS: String(RELAY_POLL_MS), LOG_LEVEL: 'warn' },
    ready: () => workerPolling(temporalAddress, taskQueue),
    timeoutMs: 180_000,
    problemPattern: /\[(WARN|ERROR)\]|"level":(40|50|60)\b/,
  });
  cleanups.push(() => worker.stop());
  say(`[lifecycle setup] worker process pid ${worker.pid} (node --import tsx worker/main.ts, RELAY_POLL_MS=${RELAY_POLL_MS}, WORKER_NICE default 10, LOG_LEVEL=warn) polling`);

  const sequential = 30;
  const warm = await measureJoiners({ apiUrl: api.url, scimToken: joiners.token, watcher, prefix: 'warmup-', users: 20, concurrency: 10 });
  say(`[lifecycle setup] warm-up: 20 joiners, p50 ${ms(latencyStats(warm.samples.map((s) => s.totalMs)).p50)}`);

  say(`\n[run] joiner latency, 1 at a time (${sequential} users)`);
  const joinSeq = await measured(api, () => measureJoiners({ apiUrl: api.url, scimToken: joiners.token, watcher, prefix: 'seq-joiner-', users: sequential, concurrency: 1 }), extraPids(worker));
  say(`[run] joiner latency, ${JOINER_CONCURRENCY} concurrent (${JOINER_USERS} users)`);
  const join = await measured(
    api,
    () => measureJoiners({ apiUrl: api.url, scimToken: joiners.token, watcher, prefix: 'joiner-', users: JOINER_USERS, concurrency: JOINER_CONCURRENCY }),
    extraPids(worker),
  );
  const joinStats = latencyStats(join.result.samples.map((s) => s.totalMs));
  const joinSeqStats = latencyStats(joinSeq.result.samples.map((s) => s.totalMs));
  const breakdown = await joinerBreakdown(ownerUrl, join.result.samples);
  const breakdownSeq = await joinerBreakdown(ownerUrl, joinSeq.result.samples);

  // Revocation: the warm-up and 1-at-a-time joiners (50) one at a time, then REVOKE_USERS more
  // active users at REVOKE_CONCURRENCY (the measured joiners, topped up when more are asked for).
  const seqRevokeIds = [...warm.samples, ...joinSeq.result.samples].map((s) => s.userId);
  let revokeIds = join.result.samples.map((s) => s.userId);
  if (revokeIds.length < REVOKE_USERS) {
    const extra = await measureJoiners({ apiUrl: api.url, scimToken: joiners.token, watcher, prefix: 'revoke-', users: REVOKE_USERS - revokeIds.length, concurrency: 10 });
    revokeIds = revokeIds.concat(extra.samples.map((s) => s.userId));
  }
  revokeIds = revokeIds.slice(0, REVOKE_USERS);
  say(`\n[lifecycle setup] a session and a personal token for each of ${seqRevokeIds.length + revokeIds.length} users (app API), each introspected active`);
  const seqTokens = await prepareRevokes({ apiUrl: api.url, appKey, userIds: seqRevokeIds, concurrency: 10 });
  const tokens = await prepareRevokes({ apiUrl: api.url, appKey, userIds: revokeIds, concurrency: 10 });

  say(`[run] time to revoke, 1 at a time (${seqRevokeIds.length} users)`);
  const revSeq = await measured(
    api,
    () => measureRevokes({ apiUrl: api.url, scimToken: joiners.token, appKey, watcher, userIds: seqRevokeIds, tokens: seqTokens, concurrency: 1 }),
    extraPids(worker),
  );
  say(`[run] time to revoke, ${REVOKE_CONCURRENCY} concurrent (${revokeIds.length} users)`);
  const rev = await measured(
    api,
    () => measureRevokes({ apiUrl: api.url, scimToken: joiners.token, appKey, watcher, userIds: revokeIds, tokens, concurrency: REVOKE_CONCURRENCY }),
    extraPids(worker),
  );
  const revStats = latencyStats(rev.result.samples.map((s) => s.totalMs));
  const revSeqStats = latencyStats(revSeq.result.samples.map((s) => s.totalMs));
  const leaverStats = latencyStats(rev.result.samples.flatMap((s) => (s.leaverMs === null ? [] : [s.leaverMs])));
  const leaverSeqStats = latencyStats(revSeq.result.samples.flatMap((s) => (s.leaverMs === null ? [] : [s.leaverMs])));

  say(`\n[run] lifecycle throughput: ${LIFECYCLE_USERS} SCIM POSTs, ${LIFECYCLE_CONCURRENCY} concurrent, until the last user.provisioned`);
  const thr = await measured(
    api,
    () =>
      measureThroughput({
        apiUrl: api.url,
        scimToken: bulk.token,
        tenantId: bulk.id,
        watcher,
        prefix: 'bulk-',
        users: LIFECYCLE_USERS,
        concurrency: LIFECYCLE_CONCURRENCY,
        progress: say,
      }),
    extraPids(worker),
  );
  say(
    `        ${thr.result.completed} joiners in ${fmt(thr.result.seconds, 1)} s: ${fmt(thr.result.joinersPerSec, 1)}/s ` +
      `(the API took the ${LIFECYCLE_USERS} POSTs in ${fmt(thr.result.postSeconds, 1)} s, ${fmt(thr.result.postsPerSec)}/s)`,
  );
  say(`\n[run] time to first access during an initial sync: ${FIRST_ACCESS_USERS} SCIM POSTs, ${FIRST_ACCESS_CONCURRENCY} concurrent, each followed by a session; until each introspects active`);
  const access = await measured(
    api,
    () =>
      measureFirstAccess({
        apiUrl: api.url,
        scimToken: sync.token,
        appKey: syncAppKey,
        watcher,
        prefix: 'sync-',
        users: FIRST_ACCESS_USERS,
        concurrency: FIRST_ACCESS_CONCURRENCY,
        // The last POSTs wait for the whole joiner backlog: twice what the throughput run's rate
        // says it takes (at least 5 minutes, at most 30), so a slow machine reports its long tail
        // instead of users that never arrived, and a stalled worker still ends the run.
        timeoutMs: Math.min(1_800_000, Math.max(300_000, Math.ceil((2 * FIRST_ACCESS_USERS * 1000) / Math.max(1, thr.result.joinersPerSec)) + 60_000)),
      }),
    extraPids(worker),
  );
  const accessStats = latencyStats(access.result.samples);
  say(`        ${access.result.samples.length} users reached first access in ${fmt(access.result.seconds, 1)} s: p50 ${ms(accessStats.p50)}, p99 ${ms(accessStats.p99)} (${access.result.errors} errors)`);
  const workerOutputLines = worker.outputLines();
  const workerProblems = worker.problems();
  await worker.stop();
  await api.stop();
  await watcher.stop();
  cleanups.splice(-3);

  const ratio = thr.result.joinersPerSec / empty.result.workflowsPerSec;
  const revokeOk = revStats.p99 < REVOKE_TARGET_MS;
  const rows = [
    [`joiner latency, POST → user.provisioned (${JOINER_CONCURRENCY} concurrent, ${JOINER_USERS} users)`, fmt(JOINER_USERS / join.result.elapsedSec, 1), ms(joinStats.p50), ms(joinStats.p99), '–', '–', '–', '–', '–'],
    [`joiner latency, 1 at a time (${sequential} users)`, fmt(sequential / joinSeq.result.elapsedSec, 1), ms(joinSeqStats.p50), ms(joinSeqStats.p99), '–', '–', '–', '–', '–'],
    [
      `time to revoke, PATCH active=false → all credentials inactive (${REVOKE_CONCURRENCY} concurrent, ${revokeIds.length} users)`,
      '–',
      ms(revStats.p50),
      ms(revStats.p99),
      '–',
      '–',
      '–',
      '–',
      `p99 < ${REVOKE_TARGET_MS} ms: ${verdict(revokeOk)}`,
    ],
    [`time to revoke, 1 at a time (${seqRevokeIds.length} users)`, '–', ms(revSeqStats.p50), ms(revSeqStats.p99), '–', '–', '–', '–', `p99 < ${REVOKE_TARGET_MS} ms: ${verdict(revSeqStats.p99 < REVOKE_TARGET_MS)}`],
    [`leaver done, PATCH → user.suspended (${REVOKE_CONCURRENCY} concurrent)`, '–', ms(leaverStats.p50), ms(leaverStats.p99), '–', '–', '–', '–', '–'],
    [
      `time to first access, initial sync: POST → session introspects active (${FIRST_ACCESS_USERS} users, ${FIRST_ACCESS_CONCURRENCY} concurrent)`,
      fmt(access.result.samples.length / access.result.seconds, 1),
      ms(accessStats.p50),
      ms(accessStats.p99),
      '–',
      '–',
      '–',
      '–',
      'reported',
    ],
    [
      `lifecycle throughput, joiners/s (${LIFECYCLE_USERS} users) vs empty workflows/s`,
      fmt(thr.result.joinersPerSec, 1),
      '–',
      '–',
      fmt(empty.result.workflowsPerSec, 1),
      '–',
      '–',
      `${fmt(100 * ratio, 1)} %`,
      'ratio reported',
    ],
  ];

  const details = () => {
    let bad = false;
    say('\nLifecycle: where a joiner\'s time goes (medians / p99, from PostgreSQL timestamps on the same clock)');
    const bRows = [['segment', `p50 (${JOINER_CONCURRENCY} conc.)`, `p99 (${JOINER_CONCURRENCY} conc.)`, 'p50 (1 at a time)', 'p99 (1 at a time)']];
    for (const [k, v] of Object.entries(breakdown)) bRows.push([k, ms(v.p50), ms(v.p99), ms(breakdownSeq[k]!.p50), ms(breakdownSeq[k]!.p99)]);
    bRows.push(['total', ms(joinStats.p50), ms(joinStats.p99), ms(joinSeqStats.p50), ms(joinSeqStats.p99)]);
    say(table(bRows));
    const postStats = latencyStats(join.result.samples.map((s) => s.postMs));
    say(`  of which the SCIM POST itself: p50 ${ms(postStats.p50)}, p99 ${ms(postStats.p99)}`);

    const patchStats = latencyStats(rev.result.samples.map((s) => s.patchMs));
    const patchSeqStats = latencyStats(revSeq.result.samples.map((s) => s.patchMs));
    const rounds = (xs: RevokeSample[]) => xs.reduce((a, s) => a + s.rounds, 0) / Math.max(1, xs.length);
    say(`\nLifecycle: time to revoke = the PATCH (SCIM suspends in its own transaction) + introspection rounds until both credentials answer inactive`);
    say(`  ${REVOKE_CONCURRENCY} concurrent: PATCH p50 ${ms(patchStats.p50)}, p99 ${ms(patchStats.p99)}; introspection rounds per user ${fmt(rounds(rev.result.samples), 2)}; leaver (user.suspended) p50 ${ms(leaverStats.p50)}, p99 ${ms(leaverStats.p99)}`);
    say(`  1 at a time:  PATCH p50 ${ms(patchSeqStats.p50)}, p99 ${ms(patchSeqStats.p99)}; introspection rounds per user ${fmt(rounds(revSeq.result.samples), 2)}; leaver (user.suspended) p50 ${ms(leaverSeqStats.p50)}, p99 ${ms(leaverSeqStats.p99)}`);
    if (rev.result.leaverTimeouts + revSeq.result.leaverTimeouts) {
      bad = true;
      say(`  WARNING: ${rev.result.leaverTimeouts + revSeq.result.leaverTimeouts} leavers did not record user.suspended within 120 s`);
    }
    say(
      `\nLifecycle throughput: ${fmt(thr.result.joinersPerSec, 1)} joiners/s vs ${fmt(empty.result.workflowsPerSec, 1)} empty workflows/s = ${fmt(100 * ratio, 1)} % ` +
        '(each joiner: relay signal-with-start, one workflow task running one local activity, i.e. one transaction; an empty workflow: one start, one workflow task)',
    );
    say(`\nLifecycle: time to first access = SCIM POST → joiner activates the user → the session issued after the POST introspects active (introspections per user ${fmt(access.result.meanIntrospections, 2)})`);
    if (access.result.errors) {
      bad = true;
      say(`  WARNING: ${access.result.errors} users failed (first: ${access.result.firstError})`);
    }
    if (thr.result.stalled || thr.result.postErrors || thr.result.completed < LIFECYCLE_USERS || empty.result.stalled) {
      bad = true;
      say(`  WARNING: completed ${thr.result.completed} of ${LIFECYCLE_USERS} joiners (POST errors ${thr.result.postErrors}, stalled ${thr.result.stalled}); empty workflows stalled ${empty.result.stalled}`);
    }
    say(`\nCPU during each lifecycle run (cores; machine has ${os.cpus().length})`);
    const cpuRows = [['run', 'API process', 'worker', 'Temporal dev server', 'PostgreSQL', 'bench process', 'other processes', 'machine busy']];
    const runs: [string, { cpu: CpuUsage | null }][] = [
      ['empty workflows (worker in bench process)', empty],
      ['joiners, 1 at a time', joinSeq],
      [`joiners, ${JOINER_CONCURRENCY} concurrent`, join],
      ['revokes, 1 at a time', revSeq],
      [`revokes, ${REVOKE_CONCURRENCY} concurrent`, rev],
      ['throughput', thr],
      ['first access (initial sync)', access],
    ];
    for (const [name, m] of runs) {
      const c = m.cpu;
      cpuRows.push([name, fmt(c?.apiCores, 2), fmt(c?.extraCores?.worker, 2), fmt(c?.extraCores?.temporal, 2), fmt(c?.postgresCores, 2), fmt(c?.benchCores, 2), fmt(c?.otherCores, 2), c ? `${c.machineBusyPct} %` : '–']);
    }
    say(table(cpuRows));
    const c = thr.cpu;
    if (c) {
      const per = (cores: number | undefined | null) => perOp(cores, thr.result.joinersPerSec);
      say(
        `  CPU per joiner: API ${per(c.apiCores)}, worker ${per(c.extraCores?.worker)}, Temporal ${per(c.extraCores?.temporal)}, PostgreSQL ${per(c.postgresCores)}; ` +
          `per empty workflow: Temporal ${perOp(empty.cpu?.extraCores?.temporal, empty.result.workflowsPerSec)}, bench (worker + client) ${perOp(empty.cpu?.benchCores, empty.result.workflowsPerSec)}`,
      );
    }
    say(`  worker output: ${workerOutputLines} lines, ${workerProblems.length} warnings/errors${workerProblems.length ? ':' : ''}`);
    for (const line of workerProblems.slice(0, 5)) say(`    ${line}`);
    return bad;
  };

  const dist = (s: LatencyStats) => ({ ...s });
  return {
    rows,
    details,
    json: {
      setup: {
        worker: `node --import tsx worker/main.ts (own process), RELAY_POLL_MS=${RELAY_POLL_MS}, WORKER_NICE default (10), LOG_LEVEL=warn, DATABASE_POOL_SIZE default`,
        taskQueue,
        defaultRole: 'member',
        joinerUsers: JOINER_USERS,
        joinerConcurrency: JOINER_CONCURRENCY,
        revokeUsers: revokeIds.length,
        revokeConcurrency: REVOKE_CONCURRENCY,
        lifecycleUsers: LIFECYCLE_USERS,
        lifecycleConcurrency: LIFECYCLE_CONCURRENCY,
        eventTiming: 'AFTER INSERT trigger on events → pg_notify → LISTEN in the bench process (commit time)',
        scimOutboxBacklogMarkedDelivered: Number(backlog?.n ?? 0),
      },
      targets: { revokeP99Ms: REVOKE_TARGET_MS },
      joinerLatencyMs: { concurrent: dist(joinStats), sequential: dist(joinSeqStats), breakdown, breakdownSequential: breakdownSeq },
      revokeMs: {
        concurrent: dist(revStats),
        sequential: dist(revSeqStats),
        patch: latencyStats(rev.result.samples.map((s) => s.patchMs)),
        leaverSuspended: dist(leaverStats),
        leaverSuspendedSequential: dist(leaverSeqStats),
      },
      throughput: { roster: thr, temporalEmptyWorkflow: empty, ratio },
      firstAccessMs: { users: FIRST_ACCESS_USERS, concurrency: FIRST_ACCESS_CONCURRENCY, ...dist(accessStats), errors: access.result.errors, seconds: access.result.seconds },
      workerOutput: { lines: workerOutputLines, warningsAndErrors: workerProblems },
    },
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Issue 6: a full listing of tenants of each BENCH_LISTING_SIZES size, by startIndex and by
 * cursor, through one API process (scripts/lib/bench-listing.ts).
 */
async function listingPart(temporalAddress: string): Promise<ListingResult[]> {
  say('\n[listing] full listings, 100 users per page');
  const api = await startApiProcess({ port: await freePort(), env: apiEnv(temporalAddress, appUrl) });
  cleanups.push(() => api.stop());
  await waitForQuiet();
  const results = await benchListing({ ownerUrl, apiUrl: api.url, apiPid: api.pid, sizes: LISTING_SIZES, say });
  await api.stop();
  say('\nListing (per page: median of 10 pages at the start, middle and end of the list; raw = PostgreSQL alone, same run)');
  say(table(listingTable(results)));
  return results;
}

/** Issue 7: the portal's first load (gzipped JavaScript the index.html loads before any lazy page). */
function portalPart(): PortalSizeResult {
  say('\n[portal] vite build, then the first load');
  const result = measurePortalFirstLoad();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  say(table([['first-load file', 'bytes', 'gzip'], ...result.initialJs.map((f) => [f.file, kb(f.bytes), kb(f.gzipBytes)])]));
  say(`Portal first load: ${kb(result.initialJsGzipBytes)} gzipped JavaScript (+ ${kb(result.initialCssGzipBytes)} CSS); target ≤ ${kb(result.limitGzipBytes)}: ${result.ok ? 'met' : 'MISSED'}`);
  return result;
}

async function main() {
  const started = new Date();
  const parts = [RUN_SCIM && 'SCIM', RUN_LIFECYCLE && 'lifecycle', RUN_IDP && 'IdP run', RUN_LISTING && 'listing', RUN_PORTAL && 'portal', RUN_APPROVALS && 'approvals', RUN_CAMPAIGNS && 'campaigns', RUN_DIRECTORY && 'directory'].filter(Boolean).join(' + ');
  say(`Roster bench (${parts}): ${CONNECTIONS} connections, ${WARMUP} s warm-up + ${DURATION} s per SCIM measurement`);
  say(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`);

  const idle = await machineBusyPct(2000);
  say(`machine busy before the run: ${idle ?? '?'} %${idle !== null && idle > 15 ? ' (WARNING: something else is running; results will be low and noisy)' : ''}`);
  say(`\n[setup] database ${new URL(ownerUrl).pathname.slice(1)}: drop, create, migrate`);
  await recreateDatabase(ownerUrl);
  const [pgInfo] = await ownerQuery<{ version: string; settings: Record<string, string> }>(
    `SELECT current_setting('server_version') AS version,
            jsonb_object_agg(name, setting || coalesce(unit, '')) AS settings
       FROM pg_settings WHERE name IN ('shared_buffers','synchronous_commit','fsync','max_connections','work_mem','wal_level','max_wal_size')`,
  );
  say(`PostgreSQL ${pgInfo!.version}: ${Object.entries(pgInfo!.settings).map(([k, v]) => `${k}=${v}`).join(' ')}`);

  let temporalAddress = env.BENCH_TEMPORAL_ADDRESS;
  let temporal: DevServer | undefined;
  if (!temporalAddress && (RUN_SCIM || RUN_LIFECYCLE || RUN_IDP || RUN_APPROVALS || RUN_CAMPAIGNS)) {
    temporal = await startDevServer({ cli: ensureTemporalCli({ quiet: true }), nice: TEMPORAL_NICE });
    cleanups.push(() => temporal!.stop());
    temporalAddress = temporal.address;
  }
  say(`[setup] Temporal at ${temporalAddress ?? 'none (the listing part does not need it)'}${temporal ? ` (dev server started for this run, pid ${temporal.process.pid}, nice ${TEMPORAL_NICE})` : ''}`);

  const scim = RUN_SCIM ? await scimPart(temporalAddress!) : undefined;
  const lifecycle = RUN_LIFECYCLE ? await lifecyclePart(temporalAddress!, temporal) : undefined;
  const idp = RUN_IDP
    ? await idpPart({
        ownerUrl,
        appUrl,
        apiEnv: apiEnv(temporalAddress!, appUrl),
        temporalAddress: temporalAddress!,
        temporalPid: temporal?.process.pid,
        config: IDP_CONFIG,
        dialects: IDP_DIALECTS,
        worker: env.BENCH_IDP_WORKER !== '0',
        measured,
        say,
        table,
        cleanups,
      })
    : undefined;
  const listing = RUN_LISTING ? await listingPart(temporalAddress ?? '127.0.0.1:1') : undefined;
  const portal = RUN_PORTAL ? portalPart() : undefined;
  const approvals = RUN_APPROVALS
    ? await approvalsPart({ ownerUrl, apiEnv: apiEnv(temporalAddress!, appUrl), temporalAddress: temporalAddress!, temporalPid: temporal?.process.pid, env, say, table, cleanups, waitForQuiet })
    : undefined;
  const campaigns = RUN_CAMPAIGNS
    ? await campaignsPart({ ownerUrl, apiEnv: apiEnv(temporalAddress!, appUrl), temporalAddress: temporalAddress!, env, say, table, cleanups, waitForQuiet })
    : undefined;
  const directory = RUN_DIRECTORY ? await directoryPart({ ownerUrl, apiEnv: apiEnv('127.0.0.1:1', appUrl), env, say, table, cleanups, waitForQuiet }) : undefined;

  // -------------------------------------------------------------------------------------------
  // Report

  const rows = [
    ['metric', 'Roster req/s', 'p50', 'p99', 'ceiling/s', 'ceiling p50', 'ceiling p99', 'Roster share', 'target'],
    ...(scim?.rows ?? []),
    ...(lifecycle?.rows ?? []),
    ...(idp?.rows ?? []),
    ...(approvals?.rows ?? []),
    ...(campaigns?.rows ?? []),
  ];
  say('\nResults');
  say(table(rows));
  if (lifecycle) say('Lifecycle rows: "Roster req/s" is users per second through the run; the throughput row\'s ceiling is the dev server\'s empty workflows/s and its share the ratio.');
  let bad = false;
  if (scim) bad = scim.details() || bad;
  if (lifecycle) bad = lifecycle.details() || bad;
  if (idp) {
    say('IdP rows: the group push row\'s "Roster req/s" and "ceiling/s" are member-adds/s, its ceiling p50/p99 per 256-row transaction.');
    bad = idp.details() || bad;
  }
  if (approvals) {
    say('Approvals rows: latency from sending the decide POST; the ceiling is the same Temporal\'s Update (decide call) or the approval workflow\'s shape with no-op activities (→ verified); share = ceiling p50 / Roster p50.');
    bad = approvals.details() || bad;
  }
  if (campaigns) {
    say('Campaigns rows: "Roster req/s" is items (or revoke decisions) per second, "p50" the total time of the run.');
    bad = campaigns.details() || bad;
  }

  const results = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    parts: { scim: RUN_SCIM, lifecycle: RUN_LIFECYCLE, idp: RUN_IDP, listing: RUN_LISTING, portal: RUN_PORTAL, directory: RUN_DIRECTORY, approvals: RUN_APPROVALS, campaigns: RUN_CAMPAIGNS },
    machine: {
      busyPctBeforeRun: idle,
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      postgres: pgInfo,
    },
    database: new URL(ownerUrl).pathname.slice(1),
    temporal: temporal ? `dev server started by the bench, nice ${TEMPORAL_NICE}` : temporalAddress,
    table: rows,
    ...(scim ? { scim: scim.json } : {}),
    ...(lifecycle ? { lifecycle: lifecycle.json } : {}),
    ...(idp ? { idp: idp.json } : {}),
    ...(listing ? { listing } : {}),
    ...(portal ? { portal } : {}),
    ...(directory ? { directory } : {}),
    ...(approvals ? { approvals: approvals.json } : {}),
    ...(campaigns ? { campaigns: campaigns.json } : {}),
  };
  const out = resolve('.data/bench-results.json');
  mkdirSync(resolve('.data'), { recursive: true });
  writeFileSync(join(out), `${JSON.stringify(results, null, 2)}\n`);
  say(`\nJSON: ${out}`);
  if (bad) say('WARNING: some requests failed; the numbers above are not trustworthy');
  return bad ? 1 : 0;
}

try {
  const code = await main();
  await shutdown(code);
} catch (err) {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await shutdown(1);
}
