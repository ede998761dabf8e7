import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { createCredentialActivities } from '../activities/credentials.js';
import { createEventActivities } from '../activities/events.js';
import { createLifecycleActivities } from '../activities/lifecycle.js';
import { createMaintenanceActivities } from '../activities/maintenance.js';
import { classifyFailures } from '../activities/to-failure.js';
import { type AppRole, loadConfig, retentionDays, webhookTargets } from '../core/config.js';
import type { PruneKind } from '../core/maintenance/kinds.js';
import { createDomainActivities } from '../activities/domains.js';
import { changeEffects } from '../activities/workflow-starter.js';
import { createApprovalActivities } from '../activities/approvals.js';
import { createCampaignActivities } from '../activities/campaigns.js';
import type { ApprovalDeps } from '../core/approvals/service.js';
import type { WebhookTargetPolicy } from '../core/net/webhook-target.js';
import type { Db } from '../core/db/pool.js';
import type { Metrics } from '../core/metrics.js';
import { tracingWorkerOptions, type WorkerTelemetry } from './tracing.js';

/** The configuration defaults, for callers that pass no limits (tests). */
const DEFAULTS = loadConfig({});

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface WorkerDeps {
  connection: NativeConnection;
  /** For activities that start or signal workflows (event delivery). */
  client: Client;
  namespace: string;
  taskQueue: string;
  db: Db;
  roles: readonly AppRole[];
  /** Decrypts webhook signing secrets (core/secret-box.ts). */
  secretKey: Buffer;
  /** A prebuilt bundle (tests bundle once per run); otherwise the worker bundles workflows/. */
  workflowBundle?: WorkflowBundle;
  /** Concurrency limits (core/config.ts WORKER_MAX_CONCURRENT_*); the config defaults when absent. */
  maxConcurrentLocalActivities?: number;
  maxConcurrentWorkflowTasks?: number;
  /** Sticky cache size (core/config.ts WORKER_MAX_CACHED_WORKFLOWS; 0: the SDK's default). */
  maxCachedWorkflows?: number;
  /** Sticky queue schedule-to-start timeout (WORKER_STICKY_TIMEOUT_MS). */
  stickyTimeoutMs?: number;
  metrics?: Metrics;
  /** Where webhook deliveries may connect (the SSRF guard); the config default when absent. */
  webhookTargets?: WebhookTargetPolicy;
  /** On shutdown, how long running activities may finish before they are cancelled. */
  shutdownGraceTimeMs?: number;
  /** Retention in days per prunable kind (core/config.ts `retentionDays`); the config defaults when absent. */
  retention?: Record<PruneKind, number>;
  /** Rows per pruning statement (MAINTENANCE_BATCH_SIZE). */
  maintenanceBatchSize?: number;
  /** DNS servers for domain challenge lookups (DNS_RESOLVER); the system's when absent. */
  dnsServers?: readonly string[];
  /** Approvals: milliseconds in a policy hour (APPROVAL_HOUR_MS); the config default when absent. */
  approvalHourMs?: number;
  /** Campaigns: milliseconds in a campaign hour (CAMPAIGN_HOUR_MS); the config default when absent. */
  campaignHourMs?: number;
  /** Webhook changes applied by approvals: plain http to loopback allowed (not in production). */
  allowHttpLoopback?: boolean;
  /**
   * Traces (core/telemetry.ts): workflow and activity interceptors and the workflow span sink. The
   * `client` above should carry activities/client-tracing.ts's interceptors too. Absent: no
   * interceptor at all.
   */
  telemetry?: WorkerTelemetry;
}

/** The composition root of the Temporal worker: every activity factory gets its dependencies here. */
export async function createLifecycleWorker(deps: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection: deps.connection,
    namespace: deps.namespace,
    taskQueue: deps.taskQueue,
    ...(deps.workflowBundle ? { workflowBundle: deps.workflowBundle } : { workflowsPath }),
    activities: {
      // Errors are classified at the Temporal boundary (activities/to-failure.ts).
      ...classifyFailures(
        createLifecycleActivities({ db: deps.db, roles: deps.roles, client: deps.client, taskQueue: deps.taskQueue, campaignHourMs: campaignHourMs(deps) }),
        deps.metrics,
      ),
      ...classifyFailures(createCredentialActivities({ db: deps.db }), deps.metrics),
      ...classifyFailures(createEventActivities({ db: deps.db, client: deps.client, taskQueue: deps.taskQueue, secretKey: deps.secretKey, targets: deps.webhookTargets ?? webhookTargets(DEFAULTS), ...(deps.metrics ? { metrics: deps.metrics } : {}) }), deps.metrics),
      ...classifyFailures(createMaintenanceActivities({ db: deps.db, retention: deps.retention ?? retentionDays(DEFAULTS), batchSize: deps.maintenanceBatchSize ?? DEFAULTS.MAINTENANCE_BATCH_SIZE, metrics: deps.metrics }), deps.metrics),
      ...classifyFailures(createDomainActivities({ db: deps.db, client: deps.client, taskQueue: deps.taskQueue, dnsServers: deps.dnsServers ?? [] }), deps.metrics),
      ...classifyFailures(createApprovalActivities({ db: deps.db, client: deps.client, deps: approvalDeps(deps) }), deps.metrics),
      ...classifyFailures(
        createCampaignActivities({ db: deps.db, client: deps.client, taskQueue: deps.taskQueue, deps: { catalogue: deps.roles, hourMs: campaignHourMs(deps) } }),
        deps.metrics,
      ),
    },
    maxConcurrentActivityTaskExecutions: 100,
    shutdownGraceTime: deps.shutdownGraceTimeMs ?? DEFAULTS.SHUTDOWN_TIMEOUT_MS,
    maxConcurrentLocalActivityExecutions: deps.maxConcurrentLocalActivities ?? DEFAULTS.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: deps.maxConcurrentWorkflowTasks ?? DEFAULTS.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    ...cachedWorkflows(deps.maxCachedWorkflows ?? DEFAULTS.WORKER_MAX_CACHED_WORKFLOWS),
    stickyQueueScheduleToStartTimeout: deps.stickyTimeoutMs ?? DEFAULTS.WORKER_STICKY_TIMEOUT_MS,
    ...(deps.telemetry ? await tracingWorkerOptions(deps.telemetry, deps.workflowBundle !== undefined) : {}),
  });
}

export { NativeConnection };

const cachedWorkflows = (n: number) => (n > 0 ? { maxCachedWorkflows: n } : {});

const campaignHourMs = (deps: WorkerDeps) => deps.campaignHourMs ?? DEFAULTS.CAMPAIGN_HOUR_MS;

/** What the approval engine's steps need, from the worker's own dependencies. */
export function approvalDeps(deps: WorkerDeps): ApprovalDeps {
  const targets = deps.webhookTargets ?? webhookTargets(DEFAULTS);
  return {
    catalogue: deps.roles,
    secretKey: deps.secretKey,
    webhooks: { allowHttpLoopback: deps.allowHttpLoopback ?? DEFAULTS.NODE_ENV !== 'production', secretKey: deps.secretKey, targets },
    taskQueue: deps.taskQueue,
    hourMs: deps.approvalHourMs ?? DEFAULTS.APPROVAL_HOUR_MS,
    // A claimed domain's verification workflow, released leavers' workflows, once the change committed.
    ...changeEffects(deps.client, deps.taskQueue),
  };
}
