/**
 * The directory row of the bench (issue 7): a tenant of N users (bulk-loaded through SQL, with
 * varied names, emails, external ids and lifecycle states), then 10 concurrent signed-in portal
 * sessions calling the directory's list (first page, next pages, a state filter) and search
 * (common, rare and absent terms) through the real API for a fixed time. Reported per call: p50,
 * p99 and requests/s, and the API's and PostgreSQL's CPU over the run. Target: p99 ≤ 100 ms.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabasePool, withTenant } from '../../core/db/pool.js';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { percentile } from './bench-pg.js';
import { cpuSample, type CpuUsage, cpuUsage, startApiProcess } from './bench-proc.js';
import { freePort } from './temporal-dev-server.js';

export const DIRECTORY_TARGET_P99_MS = 100;

export const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Dennis', 'Linus', 'Margaret', 'Donald', 'Frances', 'John', 'Radia', 'Tim', 'Vint', 'Whitfield', 'Hedy', 'Katherine', 'Dorothy', 'Mary'];
export const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson', 'Ritchie', 'Torvalds', 'Hamilton', 'Knuth', 'Allen', 'McCarthy', 'Perlman', 'Berners', 'Cerf', 'Diffie', 'Lamarr', 'Johnson', 'Vaughan', 'Jackson', 'Smith', 'Nguyen', 'Garcia', 'Okafor', 'Tanaka'];

export interface DirectoryCall {
  call: string;
  requests: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface DirectoryResult {
  users: number;
  sessions: number;
  loadSec: number;
  seconds: number;
  calls: DirectoryCall[];
  cpu: CpuUsage | null;
  /** API CPU per request, ms. */
  apiCpuMsPerRequest: number | null;
  meetsTarget: boolean;
}

/**
 * N users in one statement: names from two short lists (so a first or last name is a common
 * term and a full address a rare one), external ids, every 10th provisioned and every 50th
 * suspended, created over a day.
 */
export async function loadUsers(ownerUrl: string, tenantId: string, count: number): Promise<number> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  const t0 = performance.now();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT set_config('app.tenant_id', $1, true)`, [tenantId]);
    await client.query(`SET LOCAL maintenance_work_mem = '256MB'`);
    await client.query(
      `INSERT INTO users (tenant_id, user_name, user_name_key, display_name, external_id, emails, name, lifecycle_state, active, created_at)
       SELECT $1, lower(f || '.' || l || g) || '@corp.example', lower(f || '.' || l || g) || '@corp.example', f || ' ' || l, 'EMP-' || g,
              jsonb_build_array(jsonb_build_object('value', lower(f || '.' || l || g) || '@corp.example', 'type', 'work', 'primary', true)),
              jsonb_build_object('givenName', f, 'familyName', l),
              CASE WHEN g % 50 = 0 THEN 'suspended' WHEN g % 10 = 0 THEN 'provisioned' ELSE 'active' END,
              g % 50 <> 0,
              now() - make_interval(secs => ($2::int - g) * 86400.0 / $2::int)
         FROM generate_series(1, $2::int) AS g,
              LATERAL (SELECT ($3::text[])[1 + (g * 7) % array_length($3::text[], 1)] AS f,
                              ($4::text[])[1 + (g * 13) % array_length($4::text[], 1)] AS l) n`,
      [tenantId, count, FIRST, LAST],
    );
    await client.query('COMMIT');
    await client.query('ANALYZE users');
  } finally {
    await client.end();
  }
  return (performance.now() - t0) / 1000;
}

/** A signed-in portal session: a setup link issued through the service, completed over HTTP. */
export async function signedInSession(owner: Awaited<ReturnType<typeof createDatabasePool>>, apiUrl: string, tenantId: string, i: number): Promise<string> {
  const email = `bench-auditor-${i}-${randomBytes(3).toString('hex')}@corp.example`;
  const link = await issueSetupLink(owner, { tenantId, email, roles: ['auditor'], createdBy: { type: 'system', id: 'bench' }, publicUrl: apiUrl });
  const token = new URL(link.url).hash.replace(/^#token=/, '');
  const res = await fetch(`${apiUrl}/portal/api/setup/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, password: `Bench-${randomBytes(12).toString('base64url')}` }),
  });
  if (!res.ok) throw new Error(`setup/complete: ${res.status} ${await res.text()}`);
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('roster_portal='));
  if (!cookie) throw new Error('setup/complete set no roster_portal cookie');
  return cookie.split(';')[0]!;
}

interface Sample {
  call: string;
  ms: number;
  ok: boolean;
}

/** Rare terms: one user's full address prefix or external id; common: a first or last name. */
function searchTerm(rand: () => number, users: number): { call: string; term: string } {
  const r = rand();
  const g = 1 + Math.floor(rand() * users);
  if (r < 0.3) return { call: 'search (common name)', term: (rand() < 0.5 ? FIRST : LAST)[Math.floor(rand() * 20)]!.toLowerCase() };
  if (r < 0.6) {
    const f = FIRST[(g * 7) % FIRST.length]!;
    const l = LAST[(g * 13) % LAST.length]!;
    return { call: 'search (one person)', term: `${f}.${l}${g}`.toLowerCase() };
  }
  if (r < 0.8) return { call: 'search (external id)', term: `emp-${g}` };
  return { call: 'search (no match)', term: `zq${randomBytes(3).toString('hex')}` };
}

export async function benchDirectory(options: {
  ownerUrl: string;
  apiUrl: string;
  apiPid?: number;
  users: number;
  sessions?: number;
  durationSec?: number;
  say?: (line: string) => void;
  /** Awaited right before the measured run (e.g. wait for an idle machine). */
  beforeMeasuring?: () => Promise<void>;
}): Promise<DirectoryResult> {
  const say = options.say ?? (() => {});
  const sessions = options.sessions ?? 10;
  const durationSec = options.durationSec ?? 20;
  const owner = await createDatabasePool(options.ownerUrl, { maximumPoolSize: 2 });
  try {
    const tenant = await createTenant(owner, { slug: `bench-directory-${options.users}-${Date.now()}` });
    await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, 'bench-directory'));
    const loadSec = await loadUsers(options.ownerUrl, tenant.id, options.users);
    say(`        ${options.users.toLocaleString('en-US')} users loaded in ${loadSec.toFixed(1)} s; signing in ${sessions} portal sessions`);
    const cookies: string[] = [];
    for (let i = 0; i < sessions; i++) cookies.push(await signedInSession(owner, options.apiUrl, tenant.id, i));

    const samples: Sample[] = [];
    const get = async (cookie: string, call: string, path: string) => {
      const t0 = performance.now();
      const res = await fetch(`${options.apiUrl}/portal/api${path}`, { headers: { cookie } });
      const text = await res.text();
      const ms = performance.now() - t0;
      samples.push({ call, ms, ok: res.ok });
      return res.ok ? (JSON.parse(text) as { next: string | null }) : null;
    };
    // Warm-up: plans and caches, one pass per call type per session.
    await Promise.all(cookies.map((c) => get(c, 'warm-up', '/users?limit=25')));
    samples.length = 0;
    await options.beforeMeasuring?.();

    const before = cpuSample(options.apiPid);
    const t0 = performance.now();
    const deadline = t0 + durationSec * 1000;
    await Promise.all(
      cookies.map(async (cookie, i) => {
        let seed = i + 1;
        const rand = () => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return seed / 2147483648;
        };
        let cursor: string | null = null;
        while (performance.now() < deadline) {
          const r = rand();
          if (r < 0.25) {
            cursor = (await get(cookie, 'list (first page)', '/users?limit=25'))?.next ?? null;
          } else if (r < 0.45 && cursor) {
            cursor = (await get(cookie, 'list (next page)', `/users?limit=25&cursor=${cursor}`))?.next ?? null;
          } else if (r < 0.55) {
            await get(cookie, 'list (state filter)', `/users?limit=25&state=${rand() < 0.5 ? 'suspended' : 'provisioned'}`);
          } else {
            const s = searchTerm(rand, options.users);
            await get(cookie, s.call, `/users?limit=25&search=${encodeURIComponent(s.term)}`);
          }
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuUsage(before, cpuSample(options.apiPid), options.apiPid !== undefined);
    const byCall = new Map<string, Sample[]>();
    for (const s of samples) byCall.set(s.call, [...(byCall.get(s.call) ?? []), s]);
    const summary = (call: string, list: Sample[]): DirectoryCall => {
      const sorted = list.map((s) => s.ms).sort((a, b) => a - b);
      return { call, requests: list.length, errors: list.filter((s) => !s.ok).length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? NaN };
    };
    const calls = [...byCall.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([call, list]) => summary(call, list));
    calls.push(summary('all calls', samples));
    const apiCpuMsPerRequest = cpu?.apiCores === null || cpu?.apiCores === undefined ? null : (cpu.apiCores * seconds * 1000) / samples.length;
    return {
      users: options.users,
      sessions,
      loadSec,
      seconds,
      calls,
      cpu,
      apiCpuMsPerRequest,
      meetsTarget: calls.every((c) => c.errors === 0 && c.p99Ms <= DIRECTORY_TARGET_P99_MS),
    };
  } finally {
    await owner.end();
  }
}

/** Table rows for the report. */
export function directoryTable(r: DirectoryResult): string[][] {
  const f = (n: number) => (n < 10 ? n.toFixed(1) : n.toFixed(0));
  return [
    ['call', 'requests', 'req/s', 'errors', 'p50 ms', 'p99 ms', 'max ms', `target p99 ≤ ${DIRECTORY_TARGET_P99_MS} ms`],
    ...r.calls.map((c) => [c.call, String(c.requests), f(c.requests / r.seconds), String(c.errors), f(c.p50Ms), f(c.p99Ms), f(c.maxMs), c.p99Ms <= DIRECTORY_TARGET_P99_MS && c.errors === 0 ? 'met' : 'MISSED']),
  ];
}

/**
 * The `directory` part of `npm run bench` (BENCH_ONLY=directory; not in the default run): its own
 * API process, one tenant of BENCH_DIRECTORY_USERS users (default 100,000), BENCH_DIRECTORY_SESSIONS
 * sessions (10) for BENCH_DIRECTORY_DURATION seconds (20).
 */
export async function directoryPart(ctx: {
  ownerUrl: string;
  apiEnv: Record<string, string>;
  env: NodeJS.ProcessEnv;
  say: (line?: string) => void;
  table: (rows: string[][]) => string;
  cleanups: (() => Promise<unknown>)[];
  waitForQuiet: () => Promise<void>;
}): Promise<DirectoryResult> {
  const n = (name: string, fallback: number) => {
    const v = Number(ctx.env[name] ?? fallback);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
    return v;
  };
  const users = n('BENCH_DIRECTORY_USERS', 100_000);
  const sessions = n('BENCH_DIRECTORY_SESSIONS', 10);
  const durationSec = n('BENCH_DIRECTORY_DURATION', 20);
  ctx.say(`\n[directory] portal directory list and search: ${users.toLocaleString('en-US')} users, ${sessions} signed-in sessions, ${durationSec} s`);
  const api = await startApiProcess({ port: await freePort(), env: ctx.apiEnv });
  ctx.cleanups.push(() => api.stop());
  const result = await benchDirectory({ ownerUrl: ctx.ownerUrl, apiUrl: api.url, apiPid: api.pid, users, sessions, durationSec, say: ctx.say, beforeMeasuring: ctx.waitForQuiet });
  await api.stop();
  ctx.say('\nDirectory (GET /portal/api/users through the API, 25 per page; p99 target ≤ 100 ms)');
  ctx.say(ctx.table(directoryTable(result)));
  const c = result.cpu;
  if (c) {
    ctx.say(
      `CPU over the run: API ${c.apiCores ?? '?'} cores (${result.apiCpuMsPerRequest?.toFixed(2) ?? '?'} ms per request), PostgreSQL ${c.postgresCores} cores, load generator ${c.benchCores}, other ${c.otherCores}; machine ${c.machineBusyPct} % busy`,
    );
  }
  ctx.say(result.meetsTarget ? 'directory: every call met p99 ≤ 100 ms' : 'directory: some call MISSED p99 ≤ 100 ms (or failed)');
  return result;
}
