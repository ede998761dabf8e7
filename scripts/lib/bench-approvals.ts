/**
 * The approvals part of `npm run bench` (issue 8): decision latency, from the approver's decide
 * POST to the change applied and its verification recorded, through the portal API and a real
 * worker process running the approval workflows, as a user sees it.
 *
 * Per sample an admin requests a SCIM token rotation with overlap 0 (`POST /portal/api/connections/
 * :id/rotate`; the tenant's policy needs one approval from the `approver` role), an approver reads
 * the request (`GET /approvals/:id`, for the change hash), and once the request's workflow has run
 * its first task (a person decides seconds later, not while it starts) the clock starts:
 * `POST /approvals/:id/decide` (the workflow's Update: its answer is the decide call's time), then
 * the moments the decision, the applied change and the verification commit (a bench-only trigger on
 * change_requests NOTIFYs on commit; one LISTEN connection here takes the time of arrival), then a
 * `GET /approvals/:id` that must read `state: 'applied'` with `result.verification.ok`.
 * One round decides one request at a time, a second decides `concurrency` requests at once.
 *
 * Ceilings, in the same run, from the same Temporal dev server with a worker in this process
 * (scripts/lib/bench-update-workflow.ts): a bare Update round trip on a trivial workflow (for the
 * decide call), and the approval workflow's shape with no-op activities (an Update whose handler
 * runs one activity, then two activities in turn; for decide → verified).
 *
 * CPU per decision: the processes' CPU counted only from the decide POST to the confirming GET
 * (the requests' submission and review are excluded), divided by the decisions.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { ApprovalPolicy, ChangeOutcome, ChangeRequestView, KindPolicy, SubmittedChange } from '../../core/approvals/schema.js';
import { getApprovalPolicy, writeApprovalPolicy } from '../../core/approvals/service.js';
import { insertConnectionWithToken } from '../../core/connections/queries.js';
import { createDatabasePool, type Db, withTenant } from '../../core/db/pool.js';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import type { PortalRole } from '../../core/portal-auth/schema.js';
import { createTenant } from '../../core/repositories/tenants.js';
import { approvalWorkflowId } from '../../workflows/ids.js';
import { type LatencyStats, latencyStats, workerPolling } from './bench-lifecycle.js';
import { type CpuSample, cpuSample, type NodeProcess, startApiProcess, startNodeProcess } from './bench-proc.js';
import { freePort } from './temporal-dev-server.js';

export interface ApprovalsConfig {
  /** Decisions per round (default 200). */
  samples: number;
  /** Requests decided at once in the concurrent round (default 10). */
  concurrency: number;
  /** Unrecorded decisions before each measured series (default 10). */
  warmup: number;
}

export function approvalsConfig(env: NodeJS.ProcessEnv): ApprovalsConfig {
  const n = (name: string, fallback: number) => {
    const v = Number(env[name] ?? fallback);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
    return v;
  };
  return { samples: n('BENCH_APPROVALS_SAMPLES', 200), concurrency: n('BENCH_APPROVALS_CONCURRENCY', 10), warmup: n('BENCH_APPROVALS_WARMUP', 10) };
}

// ---------------------------------------------------------------------------------------------
// CPU over the measured windows only: raw ticks of each process summed window by window.

/** /proc counts in USER_HZ ticks of 10 ms (bench-proc.ts reads them the same way). */
const TICK_MS = 10;

export interface CpuPerDecision {
  decisions: number;
  /** Milliseconds of wall time inside the measured windows. */
  windowMs: number;
  /** CPU milliseconds per decision, by process. */
  perDecisionMs: Record<string, number>;
  /** The same less what each process burns idle over the same windows (CpuWindows.idle). */
  netOfIdleMs?: Record<string, number>;
  /** Share of the machine busy during the windows, %. */
  machineBusyPct: number;
}

class CpuWindows {
  private readonly ms: Record<string, number> = {};
  private windowMs = 0;
  private machineBusyTicks = 0;
  private machineTotalTicks = 0;

  constructor(private readonly pids: { api?: number | undefined; extra: Record<string, number | undefined> }) {}

  sample(): CpuSample | null {
    return cpuSample(this.pids.api, this.pids.extra);
  }

  add(a: CpuSample | null, b: CpuSample | null): void {
    if (!a || !b) return;
    const add = (k: string, v: number) => (this.ms[k] = (this.ms[k] ?? 0) + v);
    if (this.pids.api) add('api', (b.api - a.api) * TICK_MS);
    for (const [k, v] of Object.entries(b.extra)) if (a.extra[k] !== undefined) add(k, (v - a.extra[k]) * TICK_MS);
    add('postgres', (b.postgres - a.postgres) * TICK_MS);
    add('bench', (b.bench - a.bench) * 1000);
    add('machine', (b.machine.busy - a.machine.busy) * TICK_MS);
    this.machineBusyTicks += b.machine.busy - a.machine.busy;
    this.machineTotalTicks += b.machine.total - a.machine.total;
    this.windowMs += b.at - a.at;
  }

  /**
   * Cores each process uses over `ms` with nothing to do (the worker's relay and reconcilers poll,
   * the dev server ticks): that share of a window is not the decisions' cost.
   */
  async idle(ms = 3000): Promise<Record<string, number>> {
    const a = this.sample();
    await new Promise((r) => setTimeout(r, ms));
    const idle = new CpuWindows(this.pids);
    idle.add(a, this.sample());
    return Object.fromEntries(Object.entries(idle.ms).map(([k, v]) => [k, v / Math.max(1, idle.windowMs)]));
  }

  result(decisions: number, idleCores?: Record<string, number>): CpuPerDecision {
    const per: Record<string, number> = {};
    const known = Object.entries(this.ms).filter(([k]) => k !== 'machine').reduce((s, [, v]) => s + v, 0);
    for (const [k, v] of Object.entries(this.ms)) if (k !== 'machine') per[k] = v / decisions;
    per.other = Math.max(0, (this.ms.machine ?? 0) - known) / decisions;
    const net = idleCores
      ? Object.fromEntries(['api', 'worker', 'temporal'].filter((k) => per[k] !== undefined).map((k) => [k, per[k]! - ((idleCores[k] ?? 0) * this.windowMs) / decisions]))
      : undefined;
    return {
      decisions,
      windowMs: this.windowMs,
      perDecisionMs: per,
      ...(net ? { netOfIdleMs: net } : {}),
      machineBusyPct: Math.round((100 * this.machineBusyTicks) / Math.max(1, this.machineTotalTicks)),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// "The moment the row changed": a bench-only trigger NOTIFYs on commit.

const CHANNEL = 'roster_bench_changes';
type Stage = 'approved' | 'applied' | 'verified' | 'failed' | 'rejected' | 'expired' | 'cancelled' | 'withdrawn' | 'cooling_off';

async function installChangeNotify(ownerUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    await c.query(`
      CREATE OR REPLACE FUNCTION roster_bench_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF OLD.state IS DISTINCT FROM NEW.state THEN
          PERFORM pg_notify('${CHANNEL}', NEW.state || ' ' || NEW.id);
        END IF;
        IF coalesce(NEW.result ? 'verification', false) AND NOT coalesce(OLD.result ? 'verification', false) THEN
          PERFORM pg_notify('${CHANNEL}', 'verified ' || NEW.id);
        END IF;
        RETURN NULL;
      END $$`);
    await c.query(`DROP TRIGGER IF EXISTS roster_bench_notify_change ON change_requests`);
    await c.query(`CREATE TRIGGER roster_bench_notify_change AFTER UPDATE ON change_requests FOR EACH ROW EXECUTE FUNCTION roster_bench_notify_change()`);
  } finally {
    await c.end();
  }
}

async function dropChangeNotify(ownerUrl: string): Promise<void> {
  const c = new pg.Client({ connectionString: ownerUrl });
  await c.connect();
  try {
    await c.query(`DROP TRIGGER IF EXISTS roster_bench_notify_change ON change_requests`);
    await c.query(`DROP FUNCTION IF EXISTS roster_bench_notify_change()`);
  } finally {
    await c.end();
  }
}

class ChangeWatcher {
  private readonly client: pg.Client;
  /** `${stage} ${requestId}` → performance.now() at arrival. */
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, (stage: Stage, t: number) => void>();

  constructor(ownerUrl: string) {
    this.client = new pg.Client({ connectionString: ownerUrl });
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.client.on('notification', (msg) => {
      const t = performance.now();
      const [stage, id] = (msg.payload ?? '').split(' ') as [Stage, string];
      if (!this.seen.has(`${stage} ${id}`)) this.seen.set(`${stage} ${id}`, t);
      this.waiters.get(id)?.(stage, t);
    });
    await this.client.query(`LISTEN ${CHANNEL}`);
  }

  at(stage: Stage, id: string): number | undefined {
    return this.seen.get(`${stage} ${id}`);
  }

  /** The first of `stages` the request reaches (at once when it already did). */
  waitFor(id: string, stages: readonly Stage[], timeoutMs: number): Promise<{ stage: Stage; t: number }> {
    for (const stage of stages) {
      const t = this.at(stage, id);
      if (t !== undefined) return Promise.resolve({ stage, t });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`request ${id} reached none of ${stages.join(', ')} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.set(id, (stage, t) => {
        if (!stages.includes(stage)) return;
        clearTimeout(timer);
        this.waiters.delete(id);
        resolve({ stage, t });
      });
    });
  }

  async stop(): Promise<void> {
    await this.client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------
// Portal sessions over HTTP (fetch: undici keeps connections alive per origin)

interface PortalSession {
  userId: string;
  cookie: string;
  csrfToken: string;
}

/** A portal user with `roles`, created through the service, signed in by completing the setup link over HTTP. */
async function signIn(owner: Db, apiUrl: string, tenantId: string, roles: PortalRole[], label: string): Promise<PortalSession> {
  const email = `bench-${label}-${randomBytes(3).toString('hex')}@corp.example`;
  const link = await issueSetupLink(owner, { tenantId, email, roles, createdBy: { type: 'system', id: 'bench' }, publicUrl: apiUrl });
  const token = new URL(link.url).hash.replace(/^#token=/, '');
  const res = await fetch(`${apiUrl}/portal/api/setup/complete`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, password: `Bench-${randomBytes(12).toString('base64url')}` }),
  });
  const body = (await res.json()) as { user?: { id: string }; csrfToken?: string };
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('roster_portal='));
  if (!res.ok || !cookie || !body.user || !body.csrfToken) throw new Error(`setup/complete: ${res.status} ${JSON.stringify(body)}`);
  return { userId: body.user.id, cookie: cookie.split(';')[0]!, csrfToken: body.csrfToken };
}

async function portalCall(apiUrl: string, s: PortalSession, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${apiUrl}/portal/api${path}`, {
    method,
    headers: { cookie: s.cookie, ...(method === 'POST' ? { 'x-csrf-token': s.csrfToken, 'content-type': 'application/json' } : {}) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** Until the workflow's first task completed (started, task scheduled, started, completed). */
async function workflowReady(client: Client, workflowId: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const d = await client.workflow.getHandle(workflowId).describe().catch(() => null);
    if (d && d.historyLength >= 4) return;
    if (performance.now() > deadline) throw new Error(`workflow ${workflowId} ran no task within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------------------------------------
// Roster rounds

/** Milliseconds from sending the decide POST. */
export interface DecisionSample {
  /** The decide call's answer (the workflow's Update, synchronous). */
  decideMs: number;
  /** The decision committed (state approved). */
  approvedMs: number;
  /** The change applied (state applied, its result recorded). */
  appliedMs: number;
  /** The verification recorded (result.verification): the measured end. */
  verifiedMs: number;
  /** A GET /approvals/:id after that read applied + verification ok. */
  confirmedMs: number;
}

export interface RoundResult {
  samples: DecisionSample[];
  errors: number;
  firstError?: string | undefined;
  cpu: CpuPerDecision;
}

interface RosterSetup {
  apiUrl: string;
  tenantId: string;
  admin: PortalSession;
  /** One approver and one SCIM connection per concurrent slot (each rotation's hash is bound to its connection's tokens). */
  approvers: PortalSession[];
  connectionIds: string[];
  watcher: ChangeWatcher;
  temporal: Client;
}

interface Prepared {
  requestId: string;
  changeHash: string;
}

async function submitAndReview(s: RosterSetup, slot: number): Promise<Prepared> {
  const submitted = await portalCall(s.apiUrl, s.admin, 'POST', `/connections/${s.connectionIds[slot]}/rotate`, { overlapSeconds: 0 });
  if (submitted.status !== 202) throw new Error(`rotate: expected 202 (waits for approval), got ${submitted.status} ${JSON.stringify(submitted.body)}`);
  const requestId = SubmittedChange.parse(submitted.body).request.id;
  const seen = await portalCall(s.apiUrl, s.approvers[slot]!, 'GET', `/approvals/${requestId}`);
  if (seen.status !== 200) throw new Error(`GET /approvals/${requestId}: ${seen.status}`);
  await workflowReady(s.temporal, approvalWorkflowId(s.tenantId, requestId));
  return { requestId, changeHash: ChangeRequestView.parse(seen.body).changeHash };
}

async function decideAndWait(s: RosterSetup, slot: number, p: Prepared): Promise<DecisionSample> {
  const approver = s.approvers[slot]!;
  const t0 = performance.now();
  const decided = await portalCall(s.apiUrl, approver, 'POST', `/approvals/${p.requestId}/decide`, { verdict: 'approve', changeHash: p.changeHash });
  const decideMs = performance.now() - t0;
  if (decided.status !== 200 || ChangeOutcome.parse(decided.body).outcome !== 'approved') throw new Error(`decide: ${decided.status} ${JSON.stringify(decided.body).slice(0, 300)}`);
  const end = await s.watcher.waitFor(p.requestId, ['verified', 'failed', 'cancelled', 'expired'], 60_000);
  if (end.stage !== 'verified') throw new Error(`request ${p.requestId} ended ${end.stage}`);
  const got = await portalCall(s.apiUrl, approver, 'GET', `/approvals/${p.requestId}`);
  const confirmedMs = performance.now() - t0;
  const view = got.status === 200 ? ChangeRequestView.parse(got.body) : null;
  const verification = view?.result?.verification as { ok?: boolean } | undefined;
  if (view?.state !== 'applied' || verification?.ok !== true) {
    throw new Error(`after the verification: ${got.status} state ${view?.state}, verification ${JSON.stringify(verification)}`);
  }
  const since = (t: number | undefined) => (t === undefined ? NaN : t - t0);
  return { decideMs, approvedMs: since(s.watcher.at('approved', p.requestId)), appliedMs: since(s.watcher.at('applied', p.requestId)), verifiedMs: end.t - t0, confirmedMs };
}

/**
 * `samples` runs in batches of `concurrency`: each batch is prepared first (outside the measured
 * window), then run at once with the CPU window around it; failures are counted, the first kept.
 */
async function inBatches<P, S>(
  samples: number,
  concurrency: number,
  cpu: CpuWindows,
  prepare: (slot: number) => Promise<P>,
  run: (prepared: P, slot: number) => Promise<S>,
): Promise<{ samples: S[]; errors: number; firstError: string | undefined }> {
  const out: S[] = [];
  let errors = 0;
  let firstError: string | undefined;
  for (let done = 0; done < samples; ) {
    const k = Math.min(concurrency, samples - done);
    const prepared = await Promise.all(Array.from({ length: k }, (_, slot) => prepare(slot)));
    const a = cpu.sample();
    const results = await Promise.allSettled(prepared.map((p, slot) => run(p, slot)));
    cpu.add(a, cpu.sample());
    for (const r of results) {
      if (r.status === 'fulfilled') out.push(r.value);
      else {
        errors++;
        firstError ??= r.reason instanceof Error ? r.reason.message : String(r.reason);
      }
    }
    done += k;
  }
  return { samples: out, errors, firstError };
}

/** `samples` decisions in batches of `concurrency`: each batch is submitted and reviewed first, then decided at once. */
async function rosterRound(s: RosterSetup, samples: number, concurrency: number, cpu: CpuWindows, idleCores?: Record<string, number>): Promise<RoundResult> {
  const r = await inBatches(samples, concurrency, cpu, (slot) => submitAndReview(s, slot), (p, slot) => decideAndWait(s, slot, p));
  return { ...r, cpu: cpu.result(samples, idleCores) };
}

// ---------------------------------------------------------------------------------------------
// Ceilings: the same Temporal, a worker in this process, no Roster code.

export const updateWorkflowsPath = fileURLToPath(new URL('./bench-update-workflow.ts', import.meta.url));

export interface CeilingSample {
  /** executeUpdate's round trip. */
  updateMs: number;
  /** decisionShape only: Update sent → the last (verify) activity runs. */
  verifiedMs: number;
}

export interface CeilingResult {
  bare: { sequential: RoundCeiling; concurrent: RoundCeiling };
  shape: { sequential: RoundCeiling; concurrent: RoundCeiling };
}

interface RoundCeiling {
  samples: CeilingSample[];
  errors: number;
  firstError?: string | undefined;
  cpu: CpuPerDecision;
}

async function measureCeilings(options: {
  address: string;
  temporalPid: number | undefined;
  config: ApprovalsConfig;
  beforeMeasuring: () => Promise<void>;
  say: (line: string) => void;
}): Promise<CeilingResult> {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already installed
  }
  const taskQueue = `roster-bench-updates-${randomBytes(4).toString('hex')}`;
  const verifyWaiters = new Map<string, (t: number) => void>();
  const nativeConnection = await NativeConnection.connect({ address: options.address });
  const connection = await Connection.connect({ address: options.address });
  const client = new Client({ connection });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: updateWorkflowsPath,
    activities: {
      async step(input: { id: string; name: string }) {
        if (input.name === 'verify') verifyWaiters.get(input.id)?.(performance.now());
      },
    },
    // As the Roster worker (worker/create-worker.ts).
    maxConcurrentWorkflowTaskExecutions: 100,
  });
  let n = 0;
  const one = async (type: 'bareUpdate' | 'decisionShape'): Promise<() => Promise<CeilingSample>> => {
    const id = `bench-${type}-${Date.now()}-${++n}`;
    const handle = await client.workflow.start(type, { taskQueue, workflowId: id, args: type === 'decisionShape' ? [{ id }] : [] });
    await workflowReady(client, id);
    return async () => {
      const verified = type === 'decisionShape' ? new Promise<number>((resolve) => verifyWaiters.set(id, resolve)) : Promise.resolve(NaN);
      const t0 = performance.now();
      await handle.executeUpdate(type === 'bareUpdate' ? 'ping' : 'decide');
      const updateMs = performance.now() - t0;
      const verifiedMs = (await verified) - t0;
      verifyWaiters.delete(id);
      return { updateMs, verifiedMs };
    };
  };
  const round = async (type: 'bareUpdate' | 'decisionShape', samples: number, concurrency: number): Promise<RoundCeiling> => {
    const cpu = new CpuWindows({ extra: { temporal: options.temporalPid } });
    const r = await inBatches(samples, concurrency, cpu, () => one(type), (go) => go());
    return { ...r, cpu: cpu.result(samples) };
  };
  const { samples, concurrency, warmup } = options.config;
  try {
    return await worker.runUntil(async () => {
      await round('bareUpdate', warmup, 1);
      await round('decisionShape', warmup, 1);
      await options.beforeMeasuring();
      options.say(`[run] ceiling: bare Update round trips, ${samples} one at a time, ${samples} in batches of ${concurrency}`);
      const bare = { sequential: await round('bareUpdate', samples, 1), concurrent: await round('bareUpdate', samples, concurrency) };
      options.say(`[run] ceiling: the approval workflow's shape with no-op activities, ${samples} one at a time, ${samples} in batches of ${concurrency}`);
      const shape = { sequential: await round('decisionShape', samples, 1), concurrent: await round('decisionShape', samples, concurrency) };
      return { bare, shape };
    });
  } finally {
    await connection.close();
    await nativeConnection.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The part

export interface ApprovalsPartContext {
  ownerUrl: string;
  /** Environment of the API process (and the worker's, with its task queue added). */
  apiEnv: Record<string, string>;
  temporalAddress: string;
  temporalPid: number | undefined;
  env: NodeJS.ProcessEnv;
  say: (line?: string) => void;
  table: (rows: string[][]) => string;
  cleanups: (() => Promise<unknown>)[];
  waitForQuiet: () => Promise<void>;
}

const f = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
const fms = (n: number) => `${f(n, n < 10 ? 1 : 0)} ms`;
const stats = (xs: number[]) => latencyStats(xs.filter((x) => !Number.isNaN(x)));

export async function approvalsPart(ctx: ApprovalsPartContext) {
  const { say } = ctx;
  const config = approvalsConfig(ctx.env);
  say(`\n[approvals] decision latency: ${config.samples} decisions one at a time, ${config.samples} in batches of ${config.concurrency} decided at once (SCIM token rotations, overlap 0, 1 approval)`);

  // Ceilings first, before the Roster worker exists (its idle polling would be noise).
  const ceiling = await measureCeilings({ address: ctx.temporalAddress, temporalPid: ctx.temporalPid, config, beforeMeasuring: ctx.waitForQuiet, say });

  const owner = await createDatabasePool(ctx.ownerUrl, { maximumPoolSize: 2 });
  ctx.cleanups.push(() => owner.end());
  const tenant = await createTenant(owner, { slug: `bench-approvals-${randomBytes(3).toString('hex')}` });
  const connectionIds: string[] = [];
  for (let i = 0; i < config.concurrency; i++) {
    connectionIds.push((await withTenant(owner, tenant.id, (tx) => insertConnectionWithToken(tx, tenant.id, `bench-approvals-${i}`))).connectionId);
  }
  // The policy written directly, as test fixtures do (test/helpers/approvals.ts): one approval by an approver.
  await withTenant(owner, tenant.id, async (tx) => {
    const current = await getApprovalPolicy(tx, tenant.id);
    const kinds = { ...current.kinds, 'scim_connection.rotate': KindPolicy.parse({ approvals: 1, eligibleRoles: ['approver'] }) };
    await writeApprovalPolicy(tx, tenant.id, ApprovalPolicy.parse({ kinds }));
  });
  // Earlier parts may leave an undelivered outbox; this part's worker would relay it mid-measurement.
  const c = new pg.Client({ connectionString: ctx.ownerUrl });
  await c.connect();
  await c.query(`UPDATE outbox SET delivered_at = now() WHERE delivered_at IS NULL`);
  await c.end();
  say('[approvals setup] bench-only NOTIFY trigger on change_requests (state changes, verification recorded): the bench takes the commit time from LISTEN');
  await installChangeNotify(ctx.ownerUrl);
  const watcher = new ChangeWatcher(ctx.ownerUrl);
  await watcher.start();
  ctx.cleanups.push(() => watcher.stop());

  const taskQueue = `roster-bench-approvals-${randomBytes(4).toString('hex')}`;
  const env = { ...ctx.apiEnv, TEMPORAL_TASK_QUEUE: taskQueue };
  const api = await startApiProcess({ port: await freePort(), env });
  ctx.cleanups.push(() => api.stop());
  const worker: NodeProcess = await startNodeProcess({
    script: 'worker/main.ts',
    name: 'worker',
    env: { ...env, LOG_LEVEL: 'warn' },
    ready: () => workerPolling(ctx.temporalAddress, taskQueue),
    timeoutMs: 180_000,
    problemPattern: /\[(WARN|ERROR)\]|"level":(40|50|60)\b/,
  });
  ctx.cleanups.push(() => worker.stop());
  say(`[approvals setup] API process pid ${api.pid} at ${api.url}, worker process pid ${worker.pid} (as npm start runs it, LOG_LEVEL=warn), task queue ${taskQueue}`);

  const temporalConnection = await Connection.connect({ address: ctx.temporalAddress });
  ctx.cleanups.push(() => temporalConnection.close());
  const setup: RosterSetup = {
    apiUrl: api.url,
    tenantId: tenant.id,
    admin: await signIn(owner, api.url, tenant.id, ['admin'], 'admin'),
    approvers: [],
    connectionIds,
    watcher,
    temporal: new Client({ connection: temporalConnection }),
  };
  for (let i = 0; i < config.concurrency; i++) setup.approvers.push(await signIn(owner, api.url, tenant.id, ['approver'], `approver-${i}`));
  const pids = { api: api.pid, extra: { worker: worker.pid, temporal: ctx.temporalPid } };

  const warm = await rosterRound(setup, config.warmup, 1, new CpuWindows(pids));
  if (warm.errors) throw new Error(`approvals warm-up failed: ${warm.firstError}`);
  say(`[approvals setup] warm-up: ${config.warmup} decisions, decide → verified p50 ${fms(stats(warm.samples.map((s) => s.verifiedMs)).p50)}`);

  await ctx.waitForQuiet();
  const idleCores = await new CpuWindows(pids).idle();
  say(`[approvals setup] idle, nothing to decide (3 s): API ${f(idleCores.api, 3)} cores, worker ${f(idleCores.worker, 3)}, Temporal ${f(idleCores.temporal, 3)}`);
  say(`[run] Roster decisions, one at a time (${config.samples})`);
  const sequential = await rosterRound(setup, config.samples, 1, new CpuWindows(pids), idleCores);
  await ctx.waitForQuiet();
  say(`[run] Roster decisions, ${config.concurrency} decided at once (${config.samples})`);
  const concurrent = await rosterRound(setup, config.samples, config.concurrency, new CpuWindows(pids), idleCores);

  const workerProblems = worker.problems();
  await temporalConnection.close();
  await worker.stop();
  await api.stop();
  await watcher.stop();
  await owner.end();
  ctx.cleanups.splice(-5);
  await dropChangeNotify(ctx.ownerUrl);

  const of = (r: RoundResult, k: keyof DecisionSample) => stats(r.samples.map((s) => s[k]));
  const ofC = (r: RoundCeiling, k: keyof CeilingSample) => stats(r.samples.map((s) => s[k]));
  const latency = {
    sequential: { decide: of(sequential, 'decideMs'), approved: of(sequential, 'approvedMs'), applied: of(sequential, 'appliedMs'), verified: of(sequential, 'verifiedMs'), confirmed: of(sequential, 'confirmedMs') },
    concurrent: { decide: of(concurrent, 'decideMs'), approved: of(concurrent, 'approvedMs'), applied: of(concurrent, 'appliedMs'), verified: of(concurrent, 'verifiedMs'), confirmed: of(concurrent, 'confirmedMs') },
  };
  const ceilings = {
    bareUpdate: { sequential: ofC(ceiling.bare.sequential, 'updateMs'), concurrent: ofC(ceiling.bare.concurrent, 'updateMs') },
    shapeUpdate: { sequential: ofC(ceiling.shape.sequential, 'updateMs'), concurrent: ofC(ceiling.shape.concurrent, 'updateMs') },
    shapeVerified: { sequential: ofC(ceiling.shape.sequential, 'verifiedMs'), concurrent: ofC(ceiling.shape.concurrent, 'verifiedMs') },
  };
  const share = (roster: LatencyStats, ceil: LatencyStats) => `${f((100 * ceil.p50) / roster.p50)} %`;
  const C = config.concurrency;
  const rows: string[][] = [
    [`approval decision → applied + verified, 1 at a time (${sequential.samples.length} token rotations)`, '–', fms(latency.sequential.verified.p50), fms(latency.sequential.verified.p99), '–', fms(ceilings.shapeVerified.sequential.p50), fms(ceilings.shapeVerified.sequential.p99), share(latency.sequential.verified, ceilings.shapeVerified.sequential), 'reported'],
    [`approval decision → applied + verified, ${C} decided at once (${concurrent.samples.length})`, '–', fms(latency.concurrent.verified.p50), fms(latency.concurrent.verified.p99), '–', fms(ceilings.shapeVerified.concurrent.p50), fms(ceilings.shapeVerified.concurrent.p99), share(latency.concurrent.verified, ceilings.shapeVerified.concurrent), 'reported'],
    ['approval decide call (the Update\'s answer), 1 at a time', '–', fms(latency.sequential.decide.p50), fms(latency.sequential.decide.p99), '–', fms(ceilings.bareUpdate.sequential.p50), fms(ceilings.bareUpdate.sequential.p99), share(latency.sequential.decide, ceilings.bareUpdate.sequential), 'reported'],
    [`approval decide call, ${C} at once`, '–', fms(latency.concurrent.decide.p50), fms(latency.concurrent.decide.p99), '–', fms(ceilings.bareUpdate.concurrent.p50), fms(ceilings.bareUpdate.concurrent.p99), share(latency.concurrent.decide, ceilings.bareUpdate.concurrent), 'reported'],
  ];

  const details = () => {
    let bad = false;
    say(`\nApprovals: where a decision's time goes (ms from sending the decide POST; commit times from LISTEN on the same host; ${C} at once = batches of ${C} decided together)`);
    const seg = (name: string, k: keyof typeof latency.sequential) => [name, fms(latency.sequential[k].p50), fms(latency.sequential[k].p99), fms(latency.concurrent[k].p50), fms(latency.concurrent[k].p99)];
    say(
      ctx.table([
        ['until', 'p50 (1 at a time)', 'p99 (1 at a time)', `p50 (${C} at once)`, `p99 (${C} at once)`],
        seg('decide call answered (Update result: outcome approved)', 'decide'),
        seg('decision committed (state approved)', 'approved'),
        seg('change applied (state applied)', 'applied'),
        seg('verification recorded (result.verification): the measured end', 'verified'),
        seg('GET /approvals/:id reads applied + verification ok', 'confirmed'),
      ]),
    );
    say('\nApprovals ceilings: the same Temporal dev server, a worker in the bench process, no Roster code (share = ceiling p50 / Roster p50)');
    const cl = (name: string, s: { sequential: LatencyStats; concurrent: LatencyStats }) => [name, fms(s.sequential.p50), fms(s.sequential.p99), fms(s.concurrent.p50), fms(s.concurrent.p99)];
    say(
      ctx.table([
        ['ceiling', 'p50 (1 at a time)', 'p99 (1 at a time)', `p50 (${C} at once)`, `p99 (${C} at once)`],
        cl('bare Update round trip (handler answers at once)', ceilings.bareUpdate),
        cl('Update whose handler runs one no-op activity', ceilings.shapeUpdate),
        cl('that Update sent → the third no-op activity runs (apply, verify)', ceilings.shapeVerified),
      ]),
    );
    say('\nApprovals: CPU per decision, ms, counted from the decide POST to the confirming GET only (the submission and review before it excluded); in brackets: less what the process used idle over the same time');
    const parties = ['api', 'worker', 'temporal', 'postgres', 'bench', 'other'];
    const cpuRow = (name: string, c: CpuPerDecision) => [
      name,
      ...parties.map((p) => (c.netOfIdleMs?.[p] !== undefined ? `${f(c.perDecisionMs[p], 2)} (${f(c.netOfIdleMs[p], 2)})` : f(c.perDecisionMs[p], 2))),
      `${c.machineBusyPct} %`,
    ];
    say(
      ctx.table([
        ['run', 'API process', 'worker', 'Temporal dev server', 'PostgreSQL', 'bench process', 'other processes', 'machine busy'],
        cpuRow('Roster, 1 at a time', sequential.cpu),
        cpuRow(`Roster, ${C} at once`, concurrent.cpu),
        cpuRow('ceiling: bare Update, 1 at a time (worker in bench)', ceiling.bare.sequential.cpu),
        cpuRow(`ceiling: bare Update, ${C} at once`, ceiling.bare.concurrent.cpu),
        cpuRow('ceiling: approval shape, 1 at a time (worker in bench)', ceiling.shape.sequential.cpu),
        cpuRow(`ceiling: approval shape, ${C} at once`, ceiling.shape.concurrent.cpu),
      ]),
    );
    const failures: [string, { errors: number; firstError?: string | undefined }][] = [
      ['Roster, 1 at a time', sequential],
      [`Roster, ${C} at once`, concurrent],
      ['ceiling bare, 1 at a time', ceiling.bare.sequential],
      [`ceiling bare, ${C} at once`, ceiling.bare.concurrent],
      ['ceiling shape, 1 at a time', ceiling.shape.sequential],
      [`ceiling shape, ${C} at once`, ceiling.shape.concurrent],
    ];
    for (const [name, r] of failures) {
      if (!r.errors) continue;
      bad = true;
      say(`  WARNING: ${name}: ${r.errors} decisions failed (first: ${r.firstError})`);
    }
    say(`  worker output: ${workerProblems.length} warnings/errors${workerProblems.length ? ':' : ''}`);
    for (const line of workerProblems.slice(0, 5)) say(`    ${line}`);
    return bad;
  };

  return {
    rows,
    details,
    json: {
      setup: {
        change: 'scim_connection.rotate, overlapSeconds 0, through POST /portal/api/connections/:id/rotate; policy: 1 approval, eligible role approver',
        decide: 'POST /portal/api/approvals/:id/decide after GET /approvals/:id and the workflow\'s first task',
        end: 'verification recorded: AFTER UPDATE trigger on change_requests → pg_notify → LISTEN in the bench process (commit time); then GET /approvals/:id must read applied + verification ok',
        worker: 'node --import tsx worker/main.ts (own process), LOG_LEVEL=warn',
        ceilings: 'Temporal dev server, worker in the bench process (scripts/lib/bench-update-workflow.ts)',
        taskQueue,
        ...config,
      },
      latencyMs: latency,
      ceilingMs: ceilings,
      idleCores,
      cpuPerDecisionMs: {
        sequential: sequential.cpu,
        concurrent: concurrent.cpu,
        ceilingBare: { sequential: ceiling.bare.sequential.cpu, concurrent: ceiling.bare.concurrent.cpu },
        ceilingShape: { sequential: ceiling.shape.sequential.cpu, concurrent: ceiling.shape.concurrent.cpu },
      },
      errors: { sequential: sequential.errors, concurrent: concurrent.errors, firstError: sequential.firstError ?? concurrent.firstError ?? null },
      workerWarnings: workerProblems,
    },
  };
}
