import { z } from 'zod';
import { createWebhookTargetPolicy, type WebhookTargetPolicy } from './net/webhook-target.js';
import type { PruneKind } from './maintenance/kinds.js';

export const AppRole = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_.:-]{0,62}$/, 'role names are lower-case identifiers'),
  description: z.string().default(''),
  privileged: z.boolean().default(false),
});
export type AppRole = z.infer<typeof AppRole>;
const AppRoles = z
  .array(AppRole)
  .min(1)
  .refine((roles) => new Set(roles.map((r) => r.name)).size === roles.length, 'role names must be unique');

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isBase64Key(text: string): boolean {
  const t = text.trim();
  return /^[A-Za-z0-9+/_-]+={0,2}$/.test(t) && Buffer.from(t, /[-_]/.test(t) ? 'base64url' : 'base64').length === 32;
}

/**
 * Process configuration: one schema, parsed once at the composition root (`loadConfig(env)`).
 * Nothing else reads process.env.
 */
export const ConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  /** Public base URL used in SCIM `Location` and `meta.location`; derived from PORT if unset. */
  PUBLIC_URL: z.string().url().optional(),
  /** The owner connection: runs migrations and the operator CLI. */
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/roster'),
  /** The app role's connection (owns nothing, cannot bypass RLS). Derived from DATABASE_URL if unset. */
  APP_DATABASE_URL: z.string().optional(),
  /** Password set on the app role at migration time (production); trust auth needs none. */
  APP_DATABASE_PASSWORD: z.string().optional(),
  /**
   * Connections per process to the app database, in all. An API process reserves
   * DATABASE_STATEMENT_POOL_SIZE of them for the SCIM hot path's one-statement lookups and creates
   * (core/db/statement.ts) and gives slonik the rest; a worker gives slonik all of them. Budget:
   * PostgreSQL's max_connections (100 by default) must cover every process's DATABASE_POOL_SIZE,
   * plus two LISTEN connections per API process (SCIM tokens, portal sessions) and the CLI's.
   */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(20),
  /**
   * Of DATABASE_POOL_SIZE, the API's lean statement pool (opened on demand). 0: those statements run
   * through slonik too. Capped at half of DATABASE_POOL_SIZE.
   */
  DATABASE_STATEMENT_POOL_SIZE: z.coerce.number().int().min(0).max(100).default(6),
  TEMPORAL_ADDRESS: z.string().optional(),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('roster-lifecycle'),
  /**
   * `npm start` only: `auto` starts an embedded PostgreSQL when DATABASE_URL is unset and nothing
   * answers on the default address; `always` / `never` force the choice.
   */
  EMBEDDED_POSTGRES: z.enum(['auto', 'always', 'never']).default('auto'),
  /**
   * What `npm start` runs in this process: `all` (the API and the worker, plus a database and a
   * Temporal dev server when none is configured), or only `api` or only `worker`, any number of
   * each against one PostgreSQL and one Temporal (DATABASE_URL and TEMPORAL_ADDRESS, or those
   * recorded by a running `all` process in DATA_DIR/runtime.json).
   */
  ROSTER_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  /** SIGTERM: how long in-flight requests and worker tasks get to finish before connections close. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(25_000),
  /**
   * SIGTERM: how long /readyz answers 503 before the listener closes, so a load balancer stops
   * sending new requests first (e.g. its health-check interval; 0 in development).
   */
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).default(0),
  /**
   * Prometheus: GET /metrics on this port (API and worker metrics of the process; unset: off).
   * Its own listener, so the public API never exposes it.
   */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  METRICS_HOST: z.string().default('0.0.0.0'),
  /** The Temporal SDK's own Prometheus metrics (worker runtime telemetry) on this port (unset: off). */
  TEMPORAL_METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /**
   * OpenTelemetry traces (docs/operations.md "Traces"): the OTLP/HTTP collector's base URL
   * (`/v1/traces` is appended). Unset: tracing is off and costs nothing.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.preprocess((v) => (v === '' ? undefined : v), z.string().url().optional()),
  /** The service name on exported spans; default roster-api / roster-worker (roster when both run in one process). */
  OTEL_SERVICE_NAME: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
  /**
   * Webhook receivers must resolve to public addresses (SSRF guard). Networks listed here are
   * allowed anyway (comma-separated addresses or CIDRs). Unset: loopback outside production, none
   * in production.
   */
  WEBHOOK_ALLOWED_NETWORKS: z.string().optional(),
  /** DNS servers (host:port, comma-separated) for webhook receivers instead of the system resolver. */
  WEBHOOK_DNS_SERVERS: z.string().optional(),
  /** Where `npm start` keeps the Temporal SQLite file and the embedded PostgreSQL. */
  DATA_DIR: z.string().default('.data'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How long a rotated SCIM token keeps working beside its replacement. */
  SCIM_TOKEN_ROTATION_OVERLAP_SECONDS: z.coerce.number().int().min(0).default(86_400),
  /**
   * SCIM tokens are cached in memory and evicted by NOTIFY on revocation or rotation; this bounds
   * an entry's age regardless (0 turns the cache off).
   */
  SCIM_TOKEN_CACHE_TTL_MS: z.coerce.number().int().min(0).default(60_000),
  SCIM_TOKEN_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(10_000),
  /** How often an API process writes last_used_at for the SCIM tokens it saw. */
  SCIM_TOKEN_TOUCH_INTERVAL_MS: z.coerce.number().int().min(100).default(30_000),
  /** How often an API process writes the SCIM connection activity it counted (core/connections/activity.ts). */
  SCIM_ACTIVITY_FLUSH_MS: z.coerce.number().int().min(50).default(5_000),
  SCIM_MAX_BODY_BYTES: z.coerce.number().int().min(1024).default(1_048_576),
  SCIM_MAX_FILTER_LENGTH: z.coerce.number().int().min(64).default(4096),
  SCIM_MAX_FILTER_DEPTH: z.coerce.number().int().min(2).default(32),
  SCIM_MAX_PATCH_OPERATIONS: z.coerce.number().int().min(1).default(1000),
  SCIM_MAX_PAGE_SIZE: z.coerce.number().int().min(1).default(1000),
  SCIM_DEFAULT_PAGE_SIZE: z.coerce.number().int().min(1).default(100),
  /** How long an RFC 9865 cursor stays valid after the page that issued it (`cursorTimeout`). */
  SCIM_CURSOR_TIMEOUT_SECONDS: z.coerce.number().int().min(1).default(3600),
  /**
   * The vendor's app roles catalogue, as JSON: [{ "name", "description", "privileged" }]. Tenants
   * map their IdP groups onto these names.
   */
  APP_ROLES: z.preprocess(
    // compose passes unset optional settings as empty strings
    (v) => (v === '' ? undefined : v),
    z
    .string()
    .default(
      JSON.stringify([
        { name: 'viewer', description: 'Read-only access', privileged: false },
        { name: 'member', description: 'Standard access', privileged: false },
        { name: 'admin', description: 'Administers the workspace', privileged: true },
        { name: 'billing-admin', description: 'Manages billing and invoices', privileged: true },
      ]),
    )
    .transform((text, ctx) => {
      const parsed = AppRoles.safeParse(safeJson(text));
      if (!parsed.success) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: `APP_ROLES: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}` });
        return z.NEVER;
      }
      return parsed.data;
    }),
  ),
  /**
   * Encrypts secrets Roster must use again (webhook signing keys): base64 of 32 random bytes
   * (`openssl rand -base64 32`). Required by the api and worker in production; in development and
   * test a key is generated once into DATA_DIR (core/secret-box.ts, `loadSecretsKey`).
   */
  SECRETS_ENCRYPTION_KEY: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || isBase64Key(v), 'SECRETS_ENCRYPTION_KEY must be the base64 of exactly 32 bytes')
    .transform((v) => (v === '' ? undefined : v)),
  /**
   * The worker must not starve the API (the IdP's requests, and revocation, which is the SCIM
   * PATCH itself). Measured 2026-11-30 on the shared 2-core machine, interleaved runs (10 SCIM
   * PATCHes active=false in flight while the worker runs those leavers, then 200 joiners at 20
   * in flight), limits as local activities / workflow tasks / relay batch / relay streams:
   *   100/100/200/16 (the earlier fixed values): time to revoke p99 1886 and 1852 ms, joiners 20.5
   *     and 10.3/s;
   *   4/10/50/4: p99 676 and 1442 ms, joiners 16.7 and 18.6/s;
   *   2/4/20/2: p99 867 and 1138 ms, joiners 10.3 and 12.9/s (and more worker CPU per joiner).
   * A later run with less other load: 100/100/200/16 p99 910 ms, 25.7 joiners/s; 4/10/50/4 p99
   * 395 ms, 24.1/s; 8/20/50/4 p99 444 ms, 25.3/s. On two cores a few steps at once keep
   * PostgreSQL busy; more only queue inside the worker and PostgreSQL while taking CPU from the
   * API. The price is worker CPU per joiner (about 18-20 ms against 15-17 ms at 100/100 in
   * throughput runs). Re-measure on other hardware.
   */
  /** Portal and console sessions: signed out after this long without a request. */
  PORTAL_SESSION_IDLE_SECONDS: z.coerce.number().int().min(1).default(1800),
  /** Portal and console sessions: signed out this long after sign-in, however active. */
  PORTAL_SESSION_ABSOLUTE_SECONDS: z.coerce.number().int().min(1).default(43_200),
  /** Setup and invitation links (portal and console) stop working after this long. */
  SETUP_LINK_TTL_SECONDS: z.coerce.number().int().min(60).default(259_200),
  /** Sign-in throttling: failures per account within the window before the account locks. */
  AUTH_ACCOUNT_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
  /** Sign-in throttling: failures per client address within the window before it is refused. */
  AUTH_ADDRESS_MAX_FAILURES: z.coerce.number().int().min(1).default(20),
  AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().int().min(1).default(900),
  /** How long a locked account (or refused address) waits. */
  AUTH_LOCKOUT_SECONDS: z.coerce.number().int().min(1).default(900),
  /** Outbox relay: fallback poll interval (a NOTIFY at commit wakes it at once) and batch size. */
  RELAY_POLL_MS: z.coerce.number().int().min(5).default(500),
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).default(50),
  /** Outbox relay: streams signalled at once within a claimed batch. */
  RELAY_STREAM_CONCURRENCY: z.coerce.number().int().min(1).default(4),
  /**
   * Outbox relay: how long a membership or entitlement row waits for its identity's workflow to pull
   * it (its stream has an earlier event not applied yet) before the relay checks again; it is
   * signalled then unless the stream is still busy with an event its workflow has, and at the
   * latest after RELAY_DEFER_MAX_MS. 0 signals every row (migration 1764801300000_outbox_pull).
   */
  RELAY_DEFER_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
  RELAY_DEFER_MAX_MS: z.coerce.number().int().min(0).max(86_400_000).default(1_800_000),
  /** Worker: lifecycle steps (local activities, each one PostgreSQL transaction) running at once. */
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).default(4),
  /** Worker: workflow tasks running at once. */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(1).default(10),
  /**
   * Worker: workflow runs kept in memory between their tasks (the SDK's sticky cache). An identity
   * is a long-lived workflow that sleeps between its events, so a directory larger than the cache
   * makes most events a cache miss: the whole history is fetched from Temporal and replayed before
   * the event runs. 0 takes the SDK's default (derived from the heap limit, about 2,300 runs at
   * node's default 4 GB).
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(0),
  /**
   * Worker: how long a task for a cached run waits for this worker (its sticky queue) before
   * Temporal hands it to any worker with the whole history, which then replays it. Under a backlog
   * (a group push fans out thousands of membership events) tasks wait longer than the SDK's 10 s,
   * and every one of them is replayed. Longer keeps the cache useful under load; a crashed worker's
   * cached runs then wait that long for another worker.
   */
  WORKER_STICKY_TIMEOUT_MS: z.coerce.number().int().min(1_000).default(10_000),
  /**
   * Worker: CPU niceness (0–19) of a process that runs only the worker (ROSTER_ROLE=worker or
   * worker/main.ts). Lifecycle work is durable and asynchronous; SCIM and introspection answers are
   * what an IdP or an application waits on. When both share a host (one box, or co-located pods),
   * the kernel then gives the API the cores first and the worker the rest; alone on a host it costs
   * nothing. A process running API and worker together (ROSTER_ROLE=all) is not reniced.
   */
  WORKER_NICE: z.coerce.number().int().min(0).max(19).default(10),
  /**
   * Retention (days) of rows that served their purpose, pruned by the maintenance schedule
   * (workflows/maintenance.ts). The audit log is never pruned.
   */
  RETENTION_OUTBOX_DAYS: z.coerce.number().int().min(1).default(7),
  RETENTION_ACTIVITY_STEPS_DAYS: z.coerce.number().int().min(1).default(30),
  RETENTION_SESSIONS_DAYS: z.coerce.number().int().min(1).default(7),
  RETENTION_SETUP_LINKS_DAYS: z.coerce.number().int().min(1).default(7),
  /** The default; a tenant may set its own (tenants.delivery_log_retention_days). */
  RETENTION_WEBHOOK_DELIVERIES_DAYS: z.coerce.number().int().min(1).default(30),
  RETENTION_SCIM_ACTIVITY_DAYS: z.coerce.number().int().min(1).default(7),
  /** How often the maintenance schedule runs (a Temporal Schedule interval, e.g. `1h`, `15m`). */
  MAINTENANCE_INTERVAL: z.string().regex(/^\d+[smhd]$/, 'a number and s, m, h or d').default('1h'),
  /** Rows deleted per statement (each its own short transaction). */
  MAINTENANCE_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(1000),
  /**
   * DNS servers (host:port, comma-separated) that domain verification asks for challenge TXT
   * records; unset: the system's resolvers.
   */
  DNS_RESOLVER: z.string().optional(),
  /** How often the fleet sweep re-checks verified domains and SAML certificate expiry (one schedule). */
  FLEET_SWEEP_INTERVAL_MINUTES: z.coerce.number().int().min(1).default(360),
  /**
   * Approvals: milliseconds in one of the approval policy's hours (reminders, escalation, expiry,
   * cooling-off). Always an hour in production; tests shorten it to run days of policy in seconds.
   */
  APPROVAL_HOUR_MS: z.coerce.number().int().min(10).default(3_600_000),
  /** Milliseconds in a campaign hour (durations, reminders, interval schedules); tests shorten it. */
  CAMPAIGN_HOUR_MS: z.coerce.number().int().min(10).default(3_600_000),
  /** How often the worker's campaign reconciler looks for definitions whose Temporal Schedule is behind, and unstarted campaigns. */
  CAMPAIGN_RECONCILE_MS: z.coerce.number().int().min(50).default(10_000),
  /** How often it checks every scheduled definition's Schedule (recreating a lost one). */
  CAMPAIGN_SCHEDULE_FULL_PASS_MS: z.coerce.number().int().min(100).default(300_000),
  /** A campaign whose workflow has not started this long after commit is started by the reconciler. */
  CAMPAIGN_RECONCILE_AFTER_SECONDS: z.coerce.number().int().min(0).default(30),
  /** Approvals: a request whose workflow has not started this long after commit is started by the worker's reconciler. */
  APPROVAL_RECONCILE_AFTER_SECONDS: z.coerce.number().int().min(1).default(30),
  /**
   * Portal sessions are cached per API process and evicted by NOTIFY on sign-out, revocation,
   * removal and role changes; this bounds an entry's age regardless (0 turns the cache off; capped
   * at a quarter of the idle timeout).
   */
  PORTAL_SESSION_CACHE_TTL_MS: z.coerce.number().int().min(0).default(10_000),
  PORTAL_SESSION_CACHE_MAX_ENTRIES: z.coerce.number().int().min(1).default(10_000),
  /** How often an API process writes last_seen_at for the portal sessions it served from memory. */
  PORTAL_SESSION_TOUCH_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
});
export type Config = z.infer<typeof ConfigSchema>;

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${issues}`);
  }
  return parsed.data;
}

/** The app role's URL: APP_DATABASE_URL, or DATABASE_URL with the user swapped for roster_app. */
export function appDatabaseUrl(config: Pick<Config, 'DATABASE_URL' | 'APP_DATABASE_URL' | 'APP_DATABASE_PASSWORD'>): string {
  if (config.APP_DATABASE_URL) return config.APP_DATABASE_URL;
  const url = new URL(config.DATABASE_URL);
  url.username = 'roster_app';
  url.password = config.APP_DATABASE_PASSWORD ?? '';
  return url.toString();
}

export function publicUrl(config: Pick<Config, 'PUBLIC_URL' | 'PORT'>, port = config.PORT): string {
  return (config.PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/$/, '');
}

/** The SSRF guard's policy for webhook receivers (core/net/webhook-target.ts). */
export function webhookTargets(config: Pick<Config, 'NODE_ENV' | 'WEBHOOK_ALLOWED_NETWORKS' | 'WEBHOOK_DNS_SERVERS'>): WebhookTargetPolicy {
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const allowed = config.WEBHOOK_ALLOWED_NETWORKS ?? (config.NODE_ENV === 'production' ? '' : '127.0.0.0/8,::1');
  return createWebhookTargetPolicy({ allowedNetworks: list(allowed), dnsServers: list(config.WEBHOOK_DNS_SERVERS ?? '') });
}

/** The operator's retention defaults, in days, per kind of prunable row (core/maintenance). */
export function retentionDays(config: Config): Record<PruneKind, number> {
  return {
    outbox: config.RETENTION_OUTBOX_DAYS,
    activity_steps: config.RETENTION_ACTIVITY_STEPS_DAYS,
    portal_sessions: config.RETENTION_SESSIONS_DAYS,
    operator_sessions: config.RETENTION_SESSIONS_DAYS,
    portal_setup_links: config.RETENTION_SETUP_LINKS_DAYS,
    operator_setup_links: config.RETENTION_SETUP_LINKS_DAYS,
    webhook_deliveries: config.RETENTION_WEBHOOK_DELIVERIES_DAYS,
    scim_activity: config.RETENTION_SCIM_ACTIVITY_DAYS,
  };
}
