import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createDatabasePool, withTenant } from '../../core/db/pool.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { pool, workerPolling } from './bench-lifecycle.js';
import { bulkLoadUsers, percentile } from './bench-pg.js';
import { type ApiProcess, type CpuUsage, type NodeProcess, startApiProcess, startNodeProcess } from './bench-proc.js';
import { freePort } from './temporal-dev-server.js';
import {
  type Dialect,
  type DialectName,
  dialects,
  diffGroup,
  diffUser,
  Directory,
  membershipPlan,
  shuffled,
  type SimGroup,
  type SimRequest,
  type SimUser,
  verifyGroupRequest,
  verifyUserRequest,
} from './idp-sim.js';

/**
 * The IdP run of `npm run bench` (issue 6; docs/benchmarks.md "IdP run"): an Okta-style and an
 * Entra-style provisioning run through the real API process (and, as with `npm start`, a real
 * worker), phase by phase at a fixed number of requests in flight, then a check that SCIM reads
 * equal the IdP's model; next to the raw-PostgreSQL ceiling for inserting the same membership rows.
 */

export interface IdpRunConfig {
  users: number;
  groups: number;
  groupsPerUser: number;
  concurrency: number;
  batchSize: number;
  seed: number;
  /** Max seconds to wait for the worker to catch up after each phase. */
  drainWaitSec: number;
  /** Measured seconds of the raw membership-insert ceiling (whole rounds of the plan). */
  ceilingMinSec: number;
}

// ---------------------------------------------------------------------------------------------
// Phases: every request's latency and status, per phase.

export interface PhaseResult {
  name: string;
  requests: number;
  seconds: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  /** Successful member additions asked for by acknowledged requests, per second of the phase. */
  memberAdds: number;
  memberAddsPerSec: number;
  /** Requests whose status was not the expected one, by status ("socket" / "timeout" for no answer). */
  errorsByStatus: Record<string, number>;
  errors: number;
  /** The first few refused requests, with the start of the body. */
  errorSamples: string[];
  byKind: Record<string, { requests: number; p50: number; p99: number; errors: number }>;
  /** pg_stat_database.deadlocks delta over the phase (may lag by PostgreSQL's stats flush). */
  deadlocks: number;
  cpu: CpuUsage | null;
  /** Seconds until the worker had delivered and applied every event (null: no worker). */
  workerCatchUpSec: number | null;
  workerBehind?: { pendingOutbox: number; usersBehind: number; groupsBehind: number };
  /**
   * Peak client connections to the server during the phase (sampled every second): on a shared
   * PostgreSQL, `max_connections` reached means new pool connections fail, which the API answers
   * with 500s that are not Roster's lock order at work.
   */
  peakConnections: { all: number; benchDb: number; max: number } | null;
}

class Phase {
  readonly latencies: number[] = [];
  readonly kinds = new Map<string, { lat: number[]; errors: number }>();
  readonly errorsByStatus: Record<string, number> = {};
  readonly errorSamples: string[] = [];
  memberAdds = 0;
  started = performance.now();
  constructor(readonly name: string) {}

  record(req: SimRequest, ms: number, status: string, ok: boolean, text: string) {
    this.latencies.push(ms);
    const k = this.kinds.get(req.kind) ?? { lat: [], errors: 0 };
    k.lat.push(ms);
    if (!ok) {
      k.errors++;
      this.errorsByStatus[status] = (this.errorsByStatus[status] ?? 0) + 1;
      if (this.errorSamples.length < 8) this.errorSamples.push(`${req.kind}: ${req.method} ${req.path.slice(0, 80)} → ${status} ${text.slice(0, 200)}`);
    } else if (req.memberAdds) {
      this.memberAdds += req.memberAdds;
    }
    this.kinds.set(req.kind, k);
  }

  finish(extra: { deadlocks: number; cpu: CpuUsage | null; seconds: number }): PhaseResult {
    const sorted = Float64Array.from(this.latencies).sort();
    const errors = Object.values(this.errorsByStatus).reduce((a, b) => a + b, 0);
    const byKind: PhaseResult['byKind'] = {};
    for (const [kind, k] of this.kinds) {
      const s = Float64Array.from(k.lat).sort();
      byKind[kind] = { requests: k.lat.length, p50: percentile(s, 50), p99: percentile(s, 99), errors: k.errors };
    }
    return {
      name: this.name,
      requests: sorted.length,
      seconds: extra.seconds,
      reqPerSec: sorted.length / extra.seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      memberAdds: this.memberAdds,
      memberAddsPerSec: this.memberAdds / extra.seconds,
      errorsByStatus: { ...this.errorsByStatus },
      errors,
      errorSamples: this.errorSamples.slice(),
      byKind,
      deadlocks: extra.deadlocks,
      cpu: extra.cpu,
      workerCatchUpSec: null,
      peakConnections: null,
    };
  }
}

/** Samples the server's client connections every second until stopped; returns the peaks. */
async function watchConnections(ownerUrl: string) {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  const peak = { all: 0, benchDb: 0, max: 0 };
  const sample = async () => {
    const r = await c.query<{ all: number; bench: number; max: number }>(
      `SELECT count(*)::int AS all, (count(*) FILTER (WHERE datname = current_database()))::int AS bench,
              current_setting('max_connections')::int AS max
         FROM pg_stat_activity WHERE backend_type = 'client backend'`,
    );
    const row = r.rows[0]!;
    peak.all = Math.max(peak.all, row.all);
    peak.benchDb = Math.max(peak.benchDb, row.bench);
    peak.max = row.max;
  };
  let running = true;
  const loop = (async () => {
    while (running) {
      await sample().catch(() => {});
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  return async () => {
    running = false;
    await loop;
    await c.end().catch(() => {});
    return peak;
  };
}

/** The SCIM client of one simulated IdP: sends a SimRequest, times it, moves the model on success. */
class IdpClient {
  phase: Phase = new Phase('idle');
  constructor(
    private readonly base: string,
    private readonly token: string,
    private readonly dialect: Dialect,
  ) {}

  async send(req: SimRequest): Promise<{ ok: boolean; status: number; body: unknown }> {
    const t0 = performance.now();
    let status = 0;
    let text = '';
    let label: string;
    try {
      const res = await fetch(`${this.base}${req.path}`, {
        method: req.method,
        headers: { authorization: `Bearer ${this.token}`, ...this.dialect.headers },
        ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
        signal: AbortSignal.timeout(120_000),
      });
      text = await res.text();
      status = res.status;
      label = String(status);
    } catch (err) {
      label = err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'socket';
      text = err instanceof Error ? err.message : String(err);
    }
    const ms = performance.now() - t0;
    const ok = req.ok.includes(status);
    let body: unknown;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    this.phase.record(req, ms, label, ok, text);
    if (ok) req.onOk?.(status, body);
    return { ok, status, body };
  }
}

// ---------------------------------------------------------------------------------------------
// Database observations (owner connection: the bench database only)

export async function deadlockCount(ownerUrl: string): Promise<number> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    // Read the shared statistics afresh, not a snapshot cached earlier in this session.
    await c.query('SELECT pg_stat_clear_snapshot()');
    const r = await c.query<{ n: string }>(`SELECT deadlocks::text AS n FROM pg_stat_database WHERE datname = current_database()`);
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await c.end();
  }
}

/**
 * Waits until the worker has delivered every outbox row of the tenant and every user's and
 * group's workflow applied its last event (applied_seq = event_seq), up to `maxSec`.
 */
async function waitForWorker(ownerUrl: string, tenantId: string, maxSec: number) {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  const t0 = performance.now();
  try {
    for (;;) {
      const r = await c.query<{ pending: number; users: number; groups: number }>(
        `SELECT (SELECT count(*) FROM outbox WHERE tenant_id = $1 AND delivered_at IS NULL)::int AS pending,
                (SELECT count(*) FROM users WHERE tenant_id = $1 AND applied_seq < event_seq)::int AS users,
                (SELECT count(*) FROM groups WHERE tenant_id = $1 AND applied_seq < event_seq)::int AS groups`,
        [tenantId],
      );
      const row = r.rows[0]!;
      const seconds = (performance.now() - t0) / 1000;
      if (row.pending + row.users + row.groups === 0) return { seconds, behind: undefined };
      if (seconds > maxSec) return { seconds: null, behind: { pendingOutbox: row.pending, usersBehind: row.users, groupsBehind: row.groups } };
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------------------------------------
// One dialect's run

export type Measure = <T>(fn: () => Promise<T>) => Promise<{ result: T; cpu: CpuUsage | null }>;

export interface DialectRunResult {
  dialect: DialectName;
  phases: PhaseResult[];
  verification: {
    usersChecked: number;
    groupsChecked: number;
    mismatches: number;
    missingMembers: number;
    extraMembers: number;
    samples: string[];
    membershipsExpected: number;
  };
  deadlocksTotal: number;
  errorsTotal: number;
  /** Member additions the IdP asked for and was refused (what an admin would see missing). */
  refusedMemberAdds: number;
}

const chunks = <T>(items: readonly T[], size: number): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
};

/** Round-robin over groups: batch 0 of every group, then batch 1, … (20 groups in flight, not 20 PATCHes to one). */
function interleave<T>(perGroup: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...perGroup.map((b) => b.length));
  for (let i = 0; i < longest; i++) for (const b of perGroup) if (b[i] !== undefined) out.push(b[i]!);
  return out;
}

export async function runDialect(options: {
  dialect: DialectName;
  apiUrl: string;
  token: string;
  tenantId: string;
  ownerUrl: string;
  config: IdpRunConfig;
  worker: boolean;
  measure: Measure;
  say: (line?: string) => void;
}): Promise<DialectRunResult> {
  const { config, say } = options;
  const d = dialects[options.dialect];
  const dir = new Directory(options.dialect, { ...config, prefix: `${options.dialect}-` });
  const client = new IdpClient(`${options.apiUrl}/scim/v2`, options.token, d);
  const phases: PhaseResult[] = [];
  let refusedMemberAdds = 0;
  const deadlocksAtStart = await deadlockCount(options.ownerUrl);

  /** Runs `tasks` with `concurrency` in flight as one measured phase, then lets the worker catch up. */
  const phase = async (name: string, tasks: (() => Promise<void>)[]) => {
    say(`[idp ${d.name}] ${name}: ${tasks.length} tasks, ${config.concurrency} in flight`);
    const before = await deadlockCount(options.ownerUrl);
    const m = await options.measure(async () => {
      const p = new Phase(name);
      client.phase = p;
      const stopWatching = await watchConnections(options.ownerUrl);
      const t0 = performance.now();
      await pool(tasks.length, config.concurrency, (i) => tasks[i]!());
      const seconds = (performance.now() - t0) / 1000;
      return { p, seconds, connections: await stopWatching() };
    });
    const result = m.result.p.finish({ deadlocks: 0, cpu: m.cpu, seconds: m.result.seconds });
    result.peakConnections = m.result.connections;
    if (options.worker) {
      const w = await waitForWorker(options.ownerUrl, options.tenantId, config.drainWaitSec);
      result.workerCatchUpSec = w.seconds;
      if (w.behind) result.workerBehind = w.behind;
    }
    result.deadlocks = (await deadlockCount(options.ownerUrl)) - before;
    phases.push(result);
    say(
      `        ${result.requests} requests in ${result.seconds.toFixed(1)} s: ${result.reqPerSec.toFixed(0)}/s, p50 ${result.p50.toFixed(0)} ms, p99 ${result.p99.toFixed(0)} ms` +
        `${result.memberAdds ? `, ${result.memberAddsPerSec.toFixed(0)} member-adds/s` : ''}; errors ${result.errors}${result.errors ? ` ${JSON.stringify(result.errorsByStatus)}` : ''}; ` +
        `deadlocks ${result.deadlocks}; peak connections ${result.peakConnections?.all}/${result.peakConnections?.max}${options.worker ? `; worker caught up ${result.workerCatchUpSec === null ? `NOT within ${config.drainWaitSec} s ${JSON.stringify(result.workerBehind)}` : `after ${result.workerCatchUpSec.toFixed(1)} s`}` : ''}`,
    );
    for (const s of result.errorSamples.slice(0, 3)) say(`          ${s}`);
    return result;
  };

  const live = () => dir.users.filter((u) => u.id && !u.deleted);
  const liveGroups = () => dir.groups.filter((g) => g.id && !g.deleted);
  const pick = <T>(items: readonly T[], share: number) => shuffled(items, dir.random).slice(0, Math.max(1, Math.round(items.length * share)));

  // 1. Initial sync: lookup, then create when the lookup found nobody.
  await phase(
    `initial sync: lookup-then-create of ${config.users} users`,
    dir.users.map((u) => async () => {
      const found = await client.send(d.lookupUser(u));
      if (found.ok && !u.id) await client.send(d.createUser(u));
    }),
  );

  // 2. Groups: lookup by displayName, then create (empty: members follow as PATCHes).
  await phase(
    `group create: lookup-then-create of ${config.groups} groups`,
    dir.groups.map((g) => async () => {
      const found = await client.send(d.lookupGroup(g));
      if (found.ok && !g.id) await client.send(d.createGroup(g));
    }),
  );

  // 3. Group push: every group's planned members in PATCHes of `batchSize`, groups interleaved.
  const pushBatches = interleave(
    dir.groups.map((g) =>
      chunks(
        dir.planned[g.key]!.map((k) => dir.users[k]!).filter((u) => u.id),
        config.batchSize,
      ).map((batch) => ({ g, batch })),
    ),
  ).filter(({ g }) => g.id);
  await phase(
    `group push: ${pushBatches.length} PATCHes of up to ${config.batchSize} members`,
    pushBatches.map(({ g, batch }) => async () => {
      const r = await client.send(d.addMembers(dir, g, batch));
      if (!r.ok) refusedMemberAdds += batch.length;
    }),
  );

  // 4. Churn, round 1: profile updates, deactivations, member adds and removes, renames. The sets
  // are chosen so that any two requests in flight commute (their final effect does not depend on
  // their order), while they overlap on the same user and group rows as much as possible.
  const round1: (() => Promise<void>)[] = [];
  const users1 = live();
  const updated1 = pick(users1, 0.1);
  const updatedKeys = new Set(updated1.map((u) => u.key));
  const deactivated = pick(
    users1.filter((u) => !updatedKeys.has(u.key)),
    0.05,
  );
  for (const u of updated1) {
    round1.push(async () => {
      await client.send(d.updateUser(u, { title: 'Senior Engineer', givenName: `Renamed${u.key}`, department: `Dept ${(u.key + 1) % 17}` }));
    });
  }
  for (const u of deactivated) round1.push(async () => void (await client.send(d.setActive(u, false))));
  const memberOps = (users: SimUser[], groups: SimGroup[], share: number) => {
    const tasks: (() => Promise<void>)[] = [];
    const adds = new Map<SimGroup, SimUser[]>();
    const removes = new Map<SimGroup, SimUser[]>();
    const groupKeys = new Set(groups.map((g) => g.key));
    for (const u of pick(users, share)) {
      const candidates = groups.filter((g) => !g.members.has(u.key));
      if (candidates.length) {
        const g = candidates[Math.floor(dir.random() * candidates.length)]!;
        adds.set(g, [...(adds.get(g) ?? []), u]);
      }
    }
    for (const u of pick(users, share)) {
      const mine = [...u.groups].filter((k) => groupKeys.has(k));
      if (mine.length) {
        const g = dir.groups[mine[Math.floor(dir.random() * mine.length)]!]!;
        removes.set(g, [...(removes.get(g) ?? []), u]);
      }
    }
    for (const [g, us] of adds) {
      for (const batch of chunks(us, config.batchSize)) {
        tasks.push(async () => {
          const r = await client.send(d.addMembers(dir, g, batch));
          if (!r.ok) refusedMemberAdds += batch.length;
        });
      }
    }
    for (const [g, us] of removes) for (const batch of chunks(us, config.batchSize)) tasks.push(async () => void (await client.send(d.removeMembers(dir, g, batch))));
    return tasks;
  };
  round1.push(...memberOps(users1, liveGroups(), 0.05));
  for (const g of pick(liveGroups(), 0.1)) round1.push(async () => void (await client.send(d.renameGroup(g, `${g.displayName} (renamed)`))));
  await phase('churn 1: updates, deactivations, member adds/removes, renames', shuffled(round1, dir.random));

  // 5. Churn, round 2: reactivations; Entra deletes some of the deactivated users (Okta never
  // deletes users); updates; member changes that include the users being deleted; group deletes; Okta's
  // "push now" (replace members) on one group no other request touches.
  const round2: (() => Promise<void>)[] = [];
  // A third comes back, Entra deletes another third (its hard delete after the soft delete), the
  // rest stays deactivated.
  const third = Math.ceil(deactivated.length / 3);
  const reactivated = deactivated.slice(0, third);
  const leaving = deactivated.length && d.deleteUser(dir, deactivated[0]!) ? deactivated.slice(third, 2 * third) : [];
  const leavingKeys = new Set(leaving.map((u) => u.key));
  for (const u of reactivated) round2.push(async () => void (await client.send(d.setActive(u, true))));
  for (const u of leaving) round2.push(async () => void (await client.send(d.deleteUser(dir, u)!)));
  const deactivatedKeys = new Set(deactivated.map((u) => u.key));
  const users2 = live();
  for (const u of pick(
    users2.filter((x) => !deactivatedKeys.has(x.key)),
    0.05,
  )) {
    round2.push(async () => void (await client.send(d.updateUser(u, { title: 'Staff Engineer', givenName: `Again${u.key}`, department: `Dept ${(u.key + 2) % 17}` }))));
  }
  const groups2 = shuffled(liveGroups(), dir.random);
  const doomed = groups2.slice(0, Math.max(1, Math.round(groups2.length * 0.04)));
  const pushNow = d.replaceMembers(dir, groups2[doomed.length]!, []) ? groups2[doomed.length] : undefined;
  const untouched = new Set([...doomed, ...(pushNow ? [pushNow] : [])].map((g) => g.key));
  round2.push(...memberOps(users2, groups2.filter((g) => !untouched.has(g.key)), 0.03));
  for (const g of doomed) round2.push(async () => void (await client.send(d.deleteGroup(dir, g))));
  if (pushNow) {
    const keep = [...pushNow.members].map((k) => dir.users[k]!).filter((u) => !leavingKeys.has(u.key) && dir.random() > 0.1);
    const join = pick(
      users2.filter((u) => !pushNow.members.has(u.key) && !leavingKeys.has(u.key)),
      Math.min(0.02, pushNow.members.size / Math.max(1, users2.length) / 10),
    );
    const list = [...keep, ...join];
    round2.push(async () => {
      const r = await client.send(d.replaceMembers(dir, pushNow, list)!);
      if (!r.ok) refusedMemberAdds += join.length;
    });
  }
  await phase(`churn 2: reactivations, ${leaving.length ? 'user deletes, ' : ''}updates, member changes, group deletes${pushNow ? ', push now' : ''}`, shuffled(round2, dir.random));

  // 6. Verification: every user and group the IdP ever created, read back one by one.
  const checks: string[] = [];
  let missingMembers = 0;
  let extraMembers = 0;
  const created = dir.users.filter((u) => u.id);
  const createdGroups = dir.groups.filter((g) => g.id);
  await phase(`verify: GET ${created.length} users and ${createdGroups.length} groups`, [
    ...created.map((u) => async () => {
      const r = await client.send(verifyUserRequest(u));
      if (r.ok) checks.push(...diffUser(dir, u, r.body));
      else checks.push(`user ${u.userName}: status ${r.status}${u.deleted ? ' (deleted: want 404)' : ''}`);
    }),
    ...createdGroups.map((g) => async () => {
      const r = await client.send(verifyGroupRequest(g));
      if (r.ok) {
        const diff = diffGroup(dir, g, r.body);
        checks.push(...diff.problems);
        missingMembers += diff.missing;
        extraMembers += diff.extra;
      } else checks.push(`group ${g.displayName}: status ${r.status}${g.deleted ? ' (deleted: want 404)' : ''}`);
    }),
  ]);
  const notCreated = dir.users.length - created.length + dir.groups.length - createdGroups.length;
  if (notCreated) checks.push(`${notCreated} users/groups were never created (their creates failed)`);

  return {
    dialect: options.dialect,
    phases,
    verification: {
      usersChecked: created.length,
      groupsChecked: createdGroups.length,
      mismatches: checks.length,
      missingMembers,
      extraMembers,
      samples: checks.slice(0, 10),
      membershipsExpected: dir.membershipCount(),
    },
    deadlocksTotal: (await deadlockCount(options.ownerUrl)) - deadlocksAtStart,
    errorsTotal: phases.reduce((a, p) => a + p.errors, 0),
    refusedMemberAdds,
  };
}

// ---------------------------------------------------------------------------------------------
// The raw-PostgreSQL ceiling for the same membership rows

export interface CeilingResult {
  /** Rows inserted in the measured rounds. */
  memberAdds: number;
  /** Measured rounds (each the whole plan into a fresh set of groups), after one warm-up round. */
  rounds: number;
  transactions: number;
  seconds: number;
  memberAddsPerSec: number;
  /** Per transaction (one batch). */
  p50: number;
  p99: number;
  errors: number;
  firstError?: string;
  cpu: CpuUsage | null;
}

/**
 * `concurrency` raw clients as roster_app insert the group push's membership rows (the same plan:
 * same members per group, same batches of `batchSize`, same interleaving) into a tenant of their
 * own, each batch in the minimum transaction Roster's group PATCH needs: set the tenant, insert
 * the group_members rows, insert one outbox row per member (membership.added on the member's
 * stream), commit. No locks beyond what the inserts take, no audit, no user stream bump.
 *
 * One push lasts a fraction of a second at this speed, so the plan is pushed again into a fresh
 * set of groups (same users) until `ceilingMinSec` of measured rounds have passed, after one
 * unmeasured warm-up round. The outbox rows are marked delivered afterwards so no worker relays them.
 */
export async function membershipCeiling(options: {
  ownerUrl: string;
  appUrl: string;
  tenantId: string;
  config: IdpRunConfig;
  measure: Measure;
  say: (line?: string) => void;
}): Promise<CeilingResult> {
  const { config } = options;
  const plan = membershipPlan(config);
  const prefix = 'ceiling-member-';
  await bulkLoadUsers(options.ownerUrl, options.tenantId, prefix, config.users);
  const owner = new pg.Client({ connectionString: options.ownerUrl });
  await owner.connect();
  const userIds = new Array<string>(config.users);
  const u = await owner.query<{ id: string; user_name: string }>(`SELECT id, user_name FROM users WHERE tenant_id = $1`, [options.tenantId]);
  for (const r of u.rows) userIds[Number(r.user_name.slice(prefix.length)) - 1] = r.id;
  const perRound = plan.reduce((a, m) => a + m.length, 0);
  options.say(
    `[idp ceiling] the plan's ${perRound} membership rows per round in transactions of up to ${config.batchSize}, ${config.concurrency} raw clients as roster_app; ` +
      `1 warm-up round, then rounds until ${config.ceilingMinSec} s`,
  );

  // Stream positions: each membership.added is the next seq on its member's stream (seq 1 would be
  // user.created), as bumpUserStreams assigns them, so the unique (stream, seq) key holds.
  const nextSeq = new Array<number>(config.users).fill(1);
  const roundBatches = async (round: number) => {
    const g = await owner.query<{ id: string; display_name: string }>(
      `INSERT INTO groups (tenant_id, display_name, display_name_key)
       SELECT $1, 'Ceiling ' || $2::int || ' Group ' || g, 'ceiling ' || $2::int || ' group ' || g FROM generate_series(0, $3::int - 1) AS g
       RETURNING id, display_name`,
      [options.tenantId, round, config.groups],
    );
    const groupIds = new Array<string>(config.groups);
    for (const r of g.rows) groupIds[Number(r.display_name.slice(r.display_name.lastIndexOf(' ') + 1))] = r.id;
    return interleave(
      plan.map((members, gi) =>
        chunks(members, config.batchSize).map((batch) => ({
          groupId: groupIds[gi]!,
          users: batch.map((k) => userIds[k]!),
          seqs: batch.map((k) => ++nextSeq[k]!),
        })),
      ),
    );
  };

  const clients = await Promise.all(
    Array.from({ length: config.concurrency }, async () => {
      const c = new pg.Client({ connectionString: options.appUrl });
      await c.connect();
      return c;
    }),
  );
  const latencies: number[] = [];
  let errors = 0;
  let added = 0;
  let firstError: string | undefined;
  const push = async (batches: Awaited<ReturnType<typeof roundBatches>>, record: boolean) => {
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        for (let i = next++; i < batches.length; i = next++) {
          const b = batches[i]!;
          const s = performance.now();
          try {
            await c.query('BEGIN');
            await c.query(`SELECT set_config('app.tenant_id', $1, true)`, [options.tenantId]);
            await c.query(`INSERT INTO group_members (tenant_id, group_id, user_id) SELECT $1, $2, u FROM unnest($3::uuid[]) AS u`, [
              options.tenantId,
              b.groupId,
              b.users,
            ]);
            await c.query(
              `INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload)
               SELECT $1, 'user', u, s, 'membership.added', jsonb_build_object('groupId', $2::uuid)
                 FROM unnest($3::uuid[], $4::bigint[]) AS t(u, s)`,
              [options.tenantId, b.groupId, b.users, b.seqs],
            );
            await c.query('COMMIT');
            if (record) {
              latencies.push(performance.now() - s);
              added += b.users.length;
            }
          } catch (err) {
            errors++;
            firstError ??= err instanceof Error ? err.message : String(err);
            await c.query('ROLLBACK').catch(() => {});
          }
        }
      }),
    );
    return (performance.now() - t0) / 1000;
  };
  try {
    await push(await roundBatches(0), false);
    const m = await options.measure(async () => {
      let seconds = 0;
      let rounds = 0;
      while (rounds === 0 || seconds < config.ceilingMinSec) {
        const batches = await roundBatches(++rounds);
        seconds += await push(batches, true);
      }
      return { seconds, rounds };
    });
    const sorted = Float64Array.from(latencies).sort();
    return {
      memberAdds: added,
      rounds: m.result.rounds,
      transactions: latencies.length,
      seconds: m.result.seconds,
      memberAddsPerSec: added / m.result.seconds,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      errors,
      ...(firstError ? { firstError } : {}),
      cpu: m.cpu,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    await owner.query(`UPDATE outbox SET delivered_at = now() WHERE tenant_id = $1 AND delivered_at IS NULL`, [options.tenantId]).catch(() => {});
    await owner.end();
  }
}

// ---------------------------------------------------------------------------------------------
// The part as scripts/bench.ts runs it

export interface IdpPartContext {
  ownerUrl: string;
  appUrl: string;
  /** Environment of the API process (and the worker's, with its task queue added). */
  apiEnv: Record<string, string>;
  temporalAddress: string;
  temporalPid: number | undefined;
  config: IdpRunConfig;
  dialects: DialectName[];
  worker: boolean;
  /** bench.ts's measured(): waits for a quiet machine, then samples CPU around fn. */
  measured: <T>(api: ApiProcess | undefined, fn: () => Promise<T>, extraPids: Record<string, number | undefined>) => Promise<{ result: T; cpu: CpuUsage | null }>;
  say: (line?: string) => void;
  table: (rows: string[][]) => string;
  cleanups: (() => Promise<unknown>)[];
}

/** Group push target of issue 6: Roster's member-adds/s ≥ 25 % of the raw ceiling's. */
export const GROUP_PUSH_TARGET_PCT = 25;

const f = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const fms = (n: number) => `${f(n, n < 10 ? 1 : 0)} ms`;
const perOp = (cores: number | null | undefined, rate: number) => (cores === null || cores === undefined || !rate ? '–' : `${f((1000 * cores) / rate, 2)} ms`);

export async function idpPart(ctx: IdpPartContext) {
  const { say, config } = ctx;
  const owner = await createDatabasePool(ctx.ownerUrl, { maximumPoolSize: 2 });
  const tenants: Partial<Record<DialectName | 'ceiling', { id: string; token: string }>> = {};
  try {
    for (const name of [...ctx.dialects, 'ceiling'] as const) {
      const tenant = await createTenant(owner, { slug: `bench-idp-${name}` });
      const conn = await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, 'bench-idp'));
      tenants[name] = { id: tenant.id, token: conn.token };
    }
  } finally {
    await owner.end();
  }
  // Deactivations are deliberate here: the mass-deprovisioning guard would hold most leavers (it
  // has its own tests), and a held leaver skips the worker's writes this run is meant to overlap.
  const c = new pg.Client({ connectionString: ctx.ownerUrl });
  await c.connect();
  await c.query(`UPDATE tenants SET guard_max_suspensions = 1000000, guard_max_share = 1 WHERE slug LIKE 'bench-idp-%'`);
  // Earlier parts may leave an undelivered outbox (the SCIM part runs no worker); this run's worker
  // would otherwise start their workflows in the middle of the measurements.
  await c.query(`UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL`);
  await c.end();
  const deadlocksBefore = await deadlockCount(ctx.ownerUrl);

  const taskQueue = `roster-bench-idp-${randomBytes(4).toString('hex')}`;
  const env = { ...ctx.apiEnv, TEMPORAL_TASK_QUEUE: taskQueue };
  const api = await startApiProcess({ port: await freePort(), env });
  ctx.cleanups.push(() => api.stop());
  say(`\n[idp setup] API process pid ${api.pid} at ${api.url}; ${config.users} users, ${config.groups} groups, ~${config.groupsPerUser} groups per user, ${config.concurrency} in flight, PATCHes of ${config.batchSize}`);
  let worker: NodeProcess | undefined;
  if (ctx.worker) {
    worker = await startNodeProcess({
      script: 'worker/main.ts',
      name: 'worker',
      env: { ...env, LOG_LEVEL: 'warn' },
      ready: () => workerPolling(ctx.temporalAddress, taskQueue),
      timeoutMs: 180_000,
      problemPattern: /\[(WARN|ERROR)\]|"level":(40|50|60)\b/,
    });
    ctx.cleanups.push(() => worker!.stop());
    say(`[idp setup] worker process pid ${worker.pid} (as npm start runs it: relay, sealers, joiners, movers, leavers), LOG_LEVEL=warn`);
  } else {
    say('[idp setup] no worker (BENCH_IDP_WORKER=0): the outbox accumulates');
  }
  const extraPids = { worker: worker?.pid, temporal: ctx.temporalPid };
  const measure: Measure = (fn) => ctx.measured(api, fn, extraPids);

  const runs: DialectRunResult[] = [];
  for (const dialect of ctx.dialects) {
    say(`\n[run] IdP run, ${dialect} dialect`);
    runs.push(
      await runDialect({ dialect, apiUrl: api.url, token: tenants[dialect]!.token, tenantId: tenants[dialect]!.id, ownerUrl: ctx.ownerUrl, config, worker: !!worker, measure, say }),
    );
  }
  const workerProblems = worker?.problems() ?? [];
  await worker?.stop();
  await api.stop();
  ctx.cleanups.splice(worker ? -2 : -1);
  // Backends flush their statistics when they exit: this count is complete.
  const deadlocksRun = (await deadlockCount(ctx.ownerUrl)) - deadlocksBefore;

  say(`\n[run] ceiling: the same membership rows through raw pg as roster_app (minimum transaction)`);
  const ceiling = await membershipCeiling({ ownerUrl: ctx.ownerUrl, appUrl: ctx.appUrl, tenantId: tenants.ceiling!.id, config, measure: (fn) => ctx.measured(undefined, fn, {}), say });
  say(`        ${ceiling.memberAdds} rows in ${f(ceiling.seconds, 1)} s: ${f(ceiling.memberAddsPerSec)} member-adds/s, transaction p50 ${fms(ceiling.p50)}, p99 ${fms(ceiling.p99)}, errors ${ceiling.errors}`);

  const rows: string[][] = [];
  for (const r of runs) {
    const byName = (prefix: string) => r.phases.find((p) => p.name.startsWith(prefix))!;
    const ok = (p: PhaseResult) => `errors ${p.errors}: ${p.errors ? 'MISS' : 'ok'}`;
    for (const prefix of ['initial sync', 'group create', 'churn 1', 'churn 2']) {
      const p = byName(prefix);
      rows.push([`IdP run (${r.dialect}): ${p.name}`, f(p.reqPerSec), fms(p.p50), fms(p.p99), '–', '–', '–', '–', ok(p)]);
    }
    const push = byName('group push');
    const share = (100 * push.memberAddsPerSec) / ceiling.memberAddsPerSec;
    rows.push([
      `IdP run (${r.dialect}): ${push.name}, member-adds/s (${f(push.reqPerSec, 1)} PATCH/s)`,
      f(push.memberAddsPerSec),
      fms(push.p50),
      fms(push.p99),
      f(ceiling.memberAddsPerSec),
      fms(ceiling.p50),
      fms(ceiling.p99),
      `${f(share, share < 10 ? 1 : 0)} %`,
      `≥${GROUP_PUSH_TARGET_PCT} %: ${share >= GROUP_PUSH_TARGET_PCT ? 'ok' : 'MISS'}; ${ok(push)}`,
    ]);
    const clean = r.errorsTotal === 0 && r.deadlocksTotal === 0 && r.verification.mismatches === 0;
    rows.push([
      `IdP run (${r.dialect}): errors, deadlocks, SCIM reads vs the IdP's model`,
      '–',
      '–',
      '–',
      '–',
      '–',
      '–',
      '–',
      `${r.errorsTotal} / ${r.deadlocksTotal} / ${r.verification.mismatches} mismatches: ${clean ? 'ok' : 'MISS'}`,
    ]);
  }

  const details = () => {
    let bad = ceiling.errors > 0 || deadlocksRun > 0;
    for (const r of runs) {
      bad ||= r.errorsTotal > 0 || r.deadlocksTotal > 0 || r.verification.mismatches > 0;
      say(`\nIdP run (${r.dialect}): phases at ${config.concurrency} in flight (errors by status must be empty; deadlocks = pg_stat_database delta)`);
      const t = [['phase', 'requests', 'seconds', 'req/s', 'p50', 'p99', 'member-adds/s', 'errors by status', 'deadlocks', 'peak PG connections (all / this db / max)', 'worker caught up']];
      for (const p of r.phases) {
        t.push([
          p.name,
          String(p.requests),
          f(p.seconds, 1),
          f(p.reqPerSec),
          fms(p.p50),
          fms(p.p99),
          p.memberAdds ? f(p.memberAddsPerSec) : '–',
          p.errors ? JSON.stringify(p.errorsByStatus) : '–',
          String(p.deadlocks),
          p.peakConnections ? `${p.peakConnections.all} / ${p.peakConnections.benchDb} / ${p.peakConnections.max}` : '–',
          p.workerCatchUpSec !== null ? `${f(p.workerCatchUpSec, 1)} s` : p.workerBehind ? `NO ${JSON.stringify(p.workerBehind)}` : '–',
        ]);
      }
      say(ctx.table(t));
      for (const p of r.phases) {
        // Superuser slots (3 by default) stay reserved: the app's roles are refused before `max`.
        if (p.errors && p.peakConnections && p.peakConnections.all >= p.peakConnections.max - 3) {
          say(`  WARNING: "${p.name.split(':')[0]}" reached the server's connection limit; some of its errors may be refused connections, not Roster's doing`);
        }
      }
      const k = [['request kind', 'requests', 'p50', 'p99', 'errors']];
      const kinds = new Map<string, { requests: number; p50: number; p99: number; errors: number }[]>();
      for (const p of r.phases) for (const [name, v] of Object.entries(p.byKind)) kinds.set(name, [...(kinds.get(name) ?? []), v]);
      for (const [name, vs] of kinds) {
        // p50/p99 of the phase where the kind was most frequent (kinds rarely span phases).
        const main = vs.reduce((a, b) => (b.requests > a.requests ? b : a));
        k.push([name, String(vs.reduce((a, v) => a + v.requests, 0)), fms(main.p50), fms(main.p99), String(vs.reduce((a, v) => a + v.errors, 0))]);
      }
      say(ctx.table(k));
      const cpu = [['phase', 'API', 'worker', 'Temporal', 'PostgreSQL', 'bench', 'other', 'machine busy', 'API CPU/req', 'PostgreSQL CPU/req']];
      for (const p of r.phases) {
        const u = p.cpu;
        cpu.push([
          p.name.split(':')[0]!,
          f(u?.apiCores, 2),
          f(u?.extraCores?.worker, 2),
          f(u?.extraCores?.temporal, 2),
          f(u?.postgresCores, 2),
          f(u?.benchCores, 2),
          f(u?.otherCores, 2),
          u ? `${u.machineBusyPct} %` : '–',
          perOp(u?.apiCores, p.reqPerSec),
          perOp(u?.postgresCores, p.reqPerSec),
        ]);
      }
      say(ctx.table(cpu));
      for (const p of r.phases) for (const s of p.errorSamples) say(`  refused (${p.name.split(':')[0]}): ${s}`);
      const v = r.verification;
      say(
        `  verification: ${v.usersChecked} users and ${v.groupsChecked} groups read back; ${v.mismatches} mismatches ` +
          `(${v.missingMembers} members missing, ${v.extraMembers} unexpected, of ${v.membershipsExpected} memberships the IdP holds); ` +
          `member adds the IdP was refused: ${r.refusedMemberAdds}; deadlocks during this dialect's run: ${r.deadlocksTotal}`,
      );
      for (const s of v.samples) say(`    ${s}`);
    }
    say(`\nIdP run: PostgreSQL deadlocks over the whole part (counted after the API and worker exited): ${deadlocksRun}`);
    say(
      `Group push ceiling: ${ceiling.rounds} rounds of the plan, ${ceiling.memberAdds} rows, ${ceiling.transactions} transactions in ${f(ceiling.seconds, 1)} s, ${f(ceiling.memberAddsPerSec)} member-adds/s; ` +
        `PostgreSQL ${perOp(ceiling.cpu?.postgresCores, ceiling.memberAddsPerSec / 1000)} per 1,000 rows; errors ${ceiling.errors}${ceiling.firstError ? ` (first: ${ceiling.firstError})` : ''}`,
    );
    if (worker) say(`  worker warnings/errors: ${workerProblems.length}${workerProblems.length ? ':' : ''}`);
    for (const line of workerProblems.slice(0, 5)) say(`    ${line}`);
    return bad;
  };

  return {
    rows,
    details,
    json: {
      setup: { ...config, dialects: ctx.dialects, worker: ctx.worker, taskQueue },
      runs,
      ceiling,
      deadlocksRun,
      groupPushSharePct: Object.fromEntries(runs.map((r) => [r.dialect, (100 * r.phases.find((p) => p.name.startsWith('group push'))!.memberAddsPerSec) / ceiling.memberAddsPerSec])),
      workerProblems,
    },
  };
}
