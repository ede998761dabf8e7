import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { percentile } from './bench-pg.js';
import type { CpuUsage } from './bench-proc.js';

/**
 * The lifecycle part of `npm run bench`: joiner latency, time to revoke and joiner throughput
 * measured end to end (SCIM in, events table out) against a real worker process, plus the
 * Temporal dev server's ceiling for an empty workflow. See docs/benchmarks.md.
 */

export interface LatencyStats {
  n: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

export function latencyStats(values: number[]): LatencyStats {
  const sorted = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    n: values.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: values.length ? sum / values.length : NaN,
    min: sorted[0] ?? NaN,
    max: sorted[sorted.length - 1] ?? NaN,
  };
}

/** Wall-clock milliseconds (same clock as PostgreSQL's timestamps on this host), sub-ms precise. */
export const wallMs = (t: number = performance.now()) => performance.timeOrigin + t;

/** Runs `fn(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function pool<T>(count: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) out[i] = await fn(i);
    }),
  );
  return out;
}

// ---------------------------------------------------------------------------------------------
// "The moment the event row exists": a bench-only AFTER INSERT trigger on events NOTIFYs on
// commit, one LISTEN connection in the bench process takes the time of arrival. This costs the
// measured system one pg_notify per watched event, where polling per user in a tight loop would
// cost a busy core on this 2-core machine.

const CHANNEL = 'roster_bench_events';
const WATCHED = ['user.provisioned', 'user.suspended'] as const;
/** `user.active`: the joiner's transaction set lifecycle_state = 'active' (a users trigger). */
export type WatchedEvent = (typeof WATCHED)[number] | 'user.active';

/** Installs the trigger in the bench database (owner connection; the bench database only). */
export async function installEventNotify(ownerUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    await c.query(`
      CREATE OR REPLACE FUNCTION roster_bench_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANNEL}', NEW.type || ' ' || NEW.tenant_id || ' ' || NEW.subject_id);
        RETURN NULL;
      END $$`);
    await c.query(`DROP TRIGGER IF EXISTS roster_bench_notify ON events`);
    await c.query(`
      CREATE TRIGGER roster_bench_notify AFTER INSERT ON events FOR EACH ROW
        WHEN (NEW.type IN (${WATCHED.map((t) => `'${t}'`).join(', ')}))
        EXECUTE FUNCTION roster_bench_notify_event()`);
    // Time to first access: the moment a joiner's activation commits (introspection then confirms).
    await c.query(`
      CREATE OR REPLACE FUNCTION roster_bench_notify_active() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANNEL}', 'user.active ' || NEW.tenant_id || ' ' || NEW.id);
        RETURN NULL;
      END $$`);
    await c.query(`DROP TRIGGER IF EXISTS roster_bench_notify_active ON users`);
    await c.query(`
      CREATE TRIGGER roster_bench_notify_active AFTER UPDATE OF lifecycle_state ON users FOR EACH ROW
        WHEN (NEW.lifecycle_state = 'active' AND OLD.lifecycle_state IS DISTINCT FROM 'active')
        EXECUTE FUNCTION roster_bench_notify_active()`);
  } finally {
    await c.end();
  }
}

export class EventWatcher {
  private readonly client: pg.Client;
  /** `${type} ${subjectId}` → performance.now() at arrival. */
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, (t: number) => void>();
  /** `${type} ${tenantId}` → arrivals and the last one's time. */
  private readonly perTenant = new Map<string, { count: number; last: number }>();

  constructor(ownerUrl: string) {
    this.client = new pg.Client({ connectionString: ownerUrl });
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.client.on('notification', (msg) => {
      const t = performance.now();
      const [type, tenantId, subjectId] = (msg.payload ?? '').split(' ');
      const key = `${type} ${subjectId}`;
      if (!this.seen.has(key)) this.seen.set(key, t);
      const tk = `${type} ${tenantId}`;
      const agg = this.perTenant.get(tk) ?? { count: 0, last: 0 };
      agg.count++;
      agg.last = t;
      this.perTenant.set(tk, agg);
      this.waiters.get(key)?.(t);
      this.waiters.delete(key);
    });
    await this.client.query(`LISTEN ${CHANNEL}`);
  }

  /** performance.now() of the event's arrival (at once when it already arrived). */
  waitFor(type: WatchedEvent, subjectId: string, timeoutMs: number): Promise<number> {
    const key = `${type} ${subjectId}`;
    const known = this.seen.get(key);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(new Error(`no ${type} event for ${subjectId} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(key, (t) => {
        clearTimeout(timer);
        resolve(t);
      });
    });
  }

  tenantProgress(type: WatchedEvent, tenantId: string): { count: number; last: number } {
    return this.perTenant.get(`${type} ${tenantId}`) ?? { count: 0, last: 0 };
  }

  async stop(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP (fetch: undici keeps connections alive per origin)

export function userBody(userName: string): string {
  return JSON.stringify({
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    name: { givenName: 'Bench', familyName: userName },
    displayName: `Bench ${userName}`,
    emails: [{ value: `${userName}@bench.example`, type: 'work', primary: true }],
    active: true,
  });
}

async function call(url: string, init: RequestInit & { headers: Record<string, string> }, expect: number): Promise<unknown> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== expect) throw new Error(`${init.method} ${new URL(url).pathname}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as unknown;
}

export async function scimCreateUser(apiUrl: string, token: string, userName: string): Promise<string> {
  const body = (await call(
    `${apiUrl}/scim/v2/Users`,
    { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' }, body: userBody(userName) },
    201,
  )) as { id: string };
  return body.id;
}

/** Okta-style deprovisioning: PATCH replace active=false (never DELETE). */
export async function scimDeactivate(apiUrl: string, token: string, userId: string): Promise<void> {
  await call(
    `${apiUrl}/scim/v2/Users/${userId}`,
    {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] }),
    },
    200,
  );
}

/** A session and a personal token for the user, through the app API (app key as Bearer). */
export async function issueCredentials(apiUrl: string, appKey: string, userId: string): Promise<string[]> {
  const headers = { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' };
  const session = (await call(`${apiUrl}/api/v1/users/${userId}/sessions`, { method: 'POST', headers, body: '{}' }, 201)) as { token: string };
  const personal = (await call(
    `${apiUrl}/api/v1/users/${userId}/tokens`,
    { method: 'POST', headers, body: JSON.stringify({ name: 'bench', scopes: ['read'] }) },
    201,
  )) as { token: string };
  return [session.token, personal.token];
}

/** RFC 7662 introspection, form-encoded, app key as Bearer. */
export async function introspectActive(apiUrl: string, appKey: string, token: string): Promise<boolean> {
  const body = (await call(
    `${apiUrl}/oauth2/introspect`,
    {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token }).toString(),
    },
    200,
  )) as { active: boolean };
  return body.active;
}

// ---------------------------------------------------------------------------------------------
// 1. Joiner latency

export interface JoinerSample {
  userId: string;
  /** Wall clock just before the POST. */
  startWallMs: number;
  postMs: number;
  /** Before the POST → user.provisioned committed (NOTIFY arrival). */
  totalMs: number;
}

export async function measureJoiners(options: {
  apiUrl: string;
  scimToken: string;
  watcher: EventWatcher;
  prefix: string;
  users: number;
  concurrency: number;
  timeoutMs?: number;
}): Promise<{ samples: JoinerSample[]; elapsedSec: number }> {
  const started = performance.now();
  const samples = await pool(options.users, options.concurrency, async (i) => {
    const t0 = performance.now();
    const userId = await scimCreateUser(options.apiUrl, options.scimToken, `${options.prefix}${i + 1}`);
    const postMs = performance.now() - t0;
    const at = await options.watcher.waitFor('user.provisioned', userId, options.timeoutMs ?? 120_000);
    return { userId, startWallMs: wallMs(t0), postMs, totalMs: at - t0 };
  });
  return { samples, elapsedSec: (performance.now() - started) / 1000 };
}

/**
 * Where a joiner's time goes, from PostgreSQL's own timestamps (same host clock): the SCIM
 * transaction's start (outbox.created_at), the relay's claim (outbox.delivered_at is its
 * transaction's now()), the joiner's transaction start (users.activated_at is its now()), the
 * role.granted and user.provisioned inserts (events.created_at, clock_timestamp()).
 */
export async function joinerBreakdown(ownerUrl: string, samples: JoinerSample[]): Promise<Record<string, LatencyStats>> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    const res = await c.query<{ id: string; outbox: number; claimed: number; activated: number; granted: number | null; provisioned: number }>(
      `SELECT u.id,
              extract(epoch FROM o.created_at) * 1000 AS outbox,
              extract(epoch FROM o.delivered_at) * 1000 AS claimed,
              extract(epoch FROM u.activated_at) * 1000 AS activated,
              (SELECT extract(epoch FROM min(e.created_at)) * 1000 FROM events e
                WHERE e.tenant_id = u.tenant_id AND e.subject_type = 'user' AND e.subject_id = u.id AND e.type = 'role.granted') AS granted,
              (SELECT extract(epoch FROM min(e.created_at)) * 1000 FROM events e
                WHERE e.tenant_id = u.tenant_id AND e.subject_type = 'user' AND e.subject_id = u.id AND e.type = 'user.provisioned') AS provisioned
         FROM users u JOIN outbox o ON o.tenant_id = u.tenant_id AND o.stream_type = 'user' AND o.stream_id = u.id AND o.seq = 1
        WHERE u.id = ANY($1::uuid[])`,
      [samples.map((s) => s.userId)],
    );
    const byId = new Map(res.rows.map((r) => [r.id, r]));
    const parts: Record<string, number[]> = {
      'POST start → SCIM transaction': [],
      'SCIM transaction → relay claims the outbox row': [],
      "relay claim → joiner's transaction begins (signal-with-start, workflow task, local activity)": [],
      'transaction begins → role.granted recorded (transition, role sync)': [],
      'role.granted → user.provisioned recorded (one statement)': [],
      'user.provisioned inserted → committed and seen by the bench': [],
    };
    const v = Object.values(parts);
    for (const s of samples) {
      const r = byId.get(s.userId);
      if (!r || r.granted === null) continue;
      const end = s.startWallMs + s.totalMs;
      const points = [s.startWallMs, Number(r.outbox), Number(r.claimed), Number(r.activated), Number(r.granted), Number(r.provisioned), end];
      for (let i = 0; i < v.length; i++) v[i]!.push(points[i + 1]! - points[i]!);
    }
    return Object.fromEntries(Object.entries(parts).map(([k, xs]) => [k, latencyStats(xs)]));
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Time to revoke

export interface RevokeSample {
  userId: string;
  /** Before the PATCH → every credential introspects active: false. */
  totalMs: number;
  patchMs: number;
  /** Introspection rounds (all credentials in parallel) until every one answered inactive. */
  rounds: number;
  /** Before the PATCH → the leaver's user.suspended event (durable revocation done). */
  leaverMs: number | null;
}

export async function prepareRevokes(options: { apiUrl: string; appKey: string; userIds: string[]; concurrency: number }): Promise<string[][]> {
  return pool(options.userIds.length, options.concurrency, async (i) => {
    const tokens = await issueCredentials(options.apiUrl, options.appKey, options.userIds[i]!);
    for (const t of tokens) {
      if (!(await introspectActive(options.apiUrl, options.appKey, t))) throw new Error(`a fresh credential of ${options.userIds[i]} introspects inactive`);
    }
    return tokens;
  });
}

export async function measureRevokes(options: {
  apiUrl: string;
  scimToken: string;
  appKey: string;
  watcher: EventWatcher;
  userIds: string[];
  tokens: string[][];
  concurrency: number;
  timeoutMs?: number;
}): Promise<{ samples: RevokeSample[]; leaverTimeouts: number }> {
  const timeoutMs = options.timeoutMs ?? 120_000;
  const leavers: Promise<number | null>[] = [];
  let leaverTimeouts = 0;
  const samples = await pool(options.userIds.length, options.concurrency, async (i) => {
    const userId = options.userIds[i]!;
    const tokens = options.tokens[i]!;
    const t0 = performance.now();
    const leaver = options.watcher.waitFor('user.suspended', userId, timeoutMs).then(
      (t) => t - t0,
      () => {
        leaverTimeouts++;
        return null;
      },
    );
    leavers[i] = leaver;
    await scimDeactivate(options.apiUrl, options.scimToken, userId);
    const patchMs = performance.now() - t0;
    let rounds = 0;
    for (;;) {
      rounds++;
      const active = await Promise.all(tokens.map((t) => introspectActive(options.apiUrl, options.appKey, t)));
      if (!active.some(Boolean)) break;
      if (performance.now() - t0 > timeoutMs) throw new Error(`credentials of ${userId} still active ${timeoutMs} ms after the PATCH`);
    }
    return { userId, totalMs: performance.now() - t0, patchMs, rounds, leaverMs: null as number | null };
  });
  const leaverMs = await Promise.all(leavers);
  samples.forEach((s, i) => (s.leaverMs = leaverMs[i] ?? null));
  return { samples, leaverTimeouts };
}

// ---------------------------------------------------------------------------------------------
// 3. Throughput

export interface ThroughputResult {
  users: number;
  completed: number;
  /** First POST → last user.provisioned. */
  seconds: number;
  joinersPerSec: number;
  /** First POST → last POST answered: how fast the API took them. */
  postSeconds: number;
  postsPerSec: number;
  postErrors: number;
  stalled: boolean;
}

export async function measureThroughput(options: {
  apiUrl: string;
  scimToken: string;
  tenantId: string;
  watcher: EventWatcher;
  prefix: string;
  users: number;
  concurrency: number;
  /** Give up when no joiner completes for this long. */
  stallMs?: number;
  progress?: (line: string) => void;
}): Promise<ThroughputResult> {
  const stallMs = options.stallMs ?? 120_000;
  const before = options.watcher.tenantProgress('user.provisioned', options.tenantId).count;
  let postErrors = 0;
  let firstError = '';
  const t0 = performance.now();
  const ticker = setInterval(() => {
    const done = options.watcher.tenantProgress('user.provisioned', options.tenantId).count - before;
    options.progress?.(`        ${((performance.now() - t0) / 1000).toFixed(0)} s: ${done} of ${options.users} joiners completed`);
  }, 15_000);
  try {
    await pool(options.users, options.concurrency, async (i) => {
      try {
        await scimCreateUser(options.apiUrl, options.scimToken, `${options.prefix}${i + 1}`);
      } catch (err) {
        postErrors++;
        firstError ||= String(err);
      }
    });
    const postSeconds = (performance.now() - t0) / 1000;
    if (postErrors) options.progress?.(`        ${postErrors} POSTs failed (first: ${firstError})`);
    const target = options.users - postErrors;
    let lastCount = -1;
    let lastChange = performance.now();
    let stalled = false;
    for (;;) {
      const p = options.watcher.tenantProgress('user.provisioned', options.tenantId);
      const done = p.count - before;
      if (done >= target) break;
      if (done !== lastCount) {
        lastCount = done;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > stallMs) {
        stalled = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const p = options.watcher.tenantProgress('user.provisioned', options.tenantId);
    const completed = p.count - before;
    const seconds = (p.last - t0) / 1000;
    return {
      users: options.users,
      completed,
      seconds,
      joinersPerSec: completed / seconds,
      postSeconds,
      postsPerSec: (options.users - postErrors) / postSeconds,
      postErrors,
      stalled,
    };
  } finally {
    clearInterval(ticker);
  }
}

// ---------------------------------------------------------------------------------------------
// 4. Time to first access during an initial sync: SCIM POST → a token issued for that user
// introspects active: true. Each user gets a session right after its POST (as an app would at
// first login; a provisioned user may hold one, it works once the joiner activated the user).
// The users trigger's NOTIFY says when the activation committed; introspection then confirms it
// (and is polled every 10 ms if it does not yet), and that answer's arrival is the sample.

export interface FirstAccessResult {
  users: number;
  /** Before the POST → the first introspection that answered active: true. */
  samples: number[];
  /** Introspections per user (1 when the first one after the activation already said active). */
  meanIntrospections: number;
  seconds: number;
  errors: number;
  firstError: string;
}

export async function measureFirstAccess(options: {
  apiUrl: string;
  scimToken: string;
  appKey: string;
  watcher: EventWatcher;
  prefix: string;
  users: number;
  concurrency: number;
  timeoutMs?: number;
}): Promise<FirstAccessResult> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const headers = { authorization: `Bearer ${options.appKey}`, 'content-type': 'application/json' };
  const waits: Promise<{ ms: number; introspections: number } | null>[] = [];
  let errors = 0;
  let firstError = '';
  const fail = (err: unknown) => {
    errors++;
    firstError ||= String(err);
    return null;
  };
  const t0 = performance.now();
  // The sync itself runs at `concurrency`; each user's wait for access runs beside it, so a slow
  // joiner backlog does not slow the POSTs down (as with a real IdP).
  await pool(options.users, options.concurrency, async (i) => {
    const start = performance.now();
    try {
      const userId = await scimCreateUser(options.apiUrl, options.scimToken, `${options.prefix}${i + 1}`);
      const { token } = (await call(`${options.apiUrl}/api/v1/users/${userId}/sessions`, { method: 'POST', headers, body: '{}' }, 201)) as { token: string };
      waits.push(
        (async () => {
          await options.watcher.waitFor('user.active', userId, timeoutMs);
          for (let n = 1; ; n++) {
            if (await introspectActive(options.apiUrl, options.appKey, token)) return { ms: performance.now() - start, introspections: n };
            if (performance.now() - start > timeoutMs) throw new Error(`session of ${userId} still inactive ${timeoutMs} ms after the POST`);
            await new Promise((r) => setTimeout(r, 10));
          }
        })().catch(fail),
      );
    } catch (err) {
      fail(err);
    }
  });
  const done = (await Promise.all(waits)).filter((w) => w !== null);
  return {
    users: options.users,
    samples: done.map((w) => w.ms),
    meanIntrospections: done.reduce((a, w) => a + w.introspections, 0) / Math.max(1, done.length),
    seconds: (performance.now() - t0) / 1000,
    errors,
    firstError,
  };
}

// ---------------------------------------------------------------------------------------------
// The Temporal dev server's ceiling: N empty workflows started through a client (the same
// concurrency as the SCIM POSTs), one worker in this process; completions counted through the
// server's visibility (`ExecutionStatus="Completed"`), polled every 200 ms.

export const emptyWorkflowsPath = fileURLToPath(new URL('./bench-empty-workflow.ts', import.meta.url));

export interface EmptyWorkflowResult {
  workflows: number;
  completed: number;
  seconds: number;
  workflowsPerSec: number;
  startSeconds: number;
  startsPerSec: number;
  stalled: boolean;
}

export async function measureEmptyWorkflows(options: {
  address: string;
  namespace?: string;
  taskQueue: string;
  workflows: number;
  concurrency: number;
  warmup?: number;
  stallMs?: number;
  progress?: (line: string) => void;
  /** Wraps the measured phase (quiet-machine wait, CPU accounting). */
  measure: <T>(fn: () => Promise<T>) => Promise<{ result: T; cpu: CpuUsage | null }>;
}): Promise<{ result: EmptyWorkflowResult; cpu: CpuUsage | null }> {
  const namespace = options.namespace ?? 'default';
  try {
    // The SDK logs every worker state change at INFO otherwise.
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed
  }
  const nativeConnection = await NativeConnection.connect({ address: options.address });
  const connection = await Connection.connect({ address: options.address });
  const client = new Client({ connection, namespace });
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace,
    taskQueue: options.taskQueue,
    workflowsPath: emptyWorkflowsPath,
    // As the Roster worker (worker/create-worker.ts).
    maxConcurrentWorkflowTaskExecutions: 100,
  });
  const completedCount = async () => (await client.workflow.count(`TaskQueue="${options.taskQueue}" AND ExecutionStatus="Completed"`)).count;
  const runBatch = async (prefix: string, n: number) => {
    const base = await completedCount();
    const t0 = performance.now();
    await pool(n, options.concurrency, (i) => client.workflow.start('empty', { taskQueue: options.taskQueue, workflowId: `${prefix}${i}` }));
    const startSeconds = (performance.now() - t0) / 1000;
    let done = 0;
    let lastChange = performance.now();
    let stalled = false;
    while (done < n) {
      await new Promise((r) => setTimeout(r, 200));
      const now = (await completedCount()) - base;
      if (now !== done) lastChange = performance.now();
      else if (performance.now() - lastChange > (options.stallMs ?? 120_000)) {
        stalled = true;
        break;
      }
      done = now;
    }
    const seconds = (performance.now() - t0) / 1000;
    return { workflows: n, completed: done, seconds, workflowsPerSec: done / seconds, startSeconds, startsPerSec: n / startSeconds, stalled };
  };
  try {
    return await worker.runUntil(async () => {
      await runBatch(`bench-empty-warmup-${Date.now()}-`, options.warmup ?? 200);
      return options.measure(() => runBatch(`bench-empty-${Date.now()}-`, options.workflows));
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

/** True once the task queue has workflow and activity pollers (the worker finished bundling). */
export async function workerPolling(address: string, taskQueue: string, namespace = 'default'): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1000 });
  try {
    const [wf, act] = await Promise.all(
      [1, 2].map((taskQueueType) => connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue }, taskQueueType })),
    );
    return (wf?.pollers?.length ?? 0) > 0 && (act?.pollers?.length ?? 0) > 0;
  } finally {
    await connection.close();
  }
}
