import type { Client } from '@temporalio/client';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Db } from '../core/db/pool.js';
import type { Metrics } from '../core/metrics.js';
import { sealAuditChains } from '../core/repositories/audit.js';
import { purgeExpiredEvents, sealEventFeeds } from '../core/repositories/events.js';
import { compactCounts, purgePositions } from '../core/repositories/list-page.js';
import { claimOutbox, deferOutbox, markDelivered, markFailed, type OutboxRow } from '../core/repositories/outbox.js';
import { contextFromTraceparent, inSpan, SpanKind, type SpanOptions, tracingEnabled } from '../core/telemetry.js';
import { groupWorkflowId, identityWorkflowId } from '../workflows/ids.js';
import { scimChangeSignal, type StreamEvent } from '../workflows/messages.js';
import { reconcileApprovals } from './loops/approval-reconciler.js';
import { campaignReconciler } from './loops/campaign-reconciler.js';

export interface RelayDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  logger: Logger;
  /** Fallback poll interval; a NOTIFY at commit wakes the relay sooner when `listenUrl` is given. */
  pollMs: number;
  batchSize: number;
  /** Streams signalled at once within one claimed batch (core/config.ts RELAY_STREAM_CONCURRENCY). */
  streamConcurrency: number;
  /**
   * Membership and entitlement rows whose identity has an earlier event still unapplied are
   * deferred for that workflow's next step to pull, looked at again after `ms` and signalled at
   * the latest after `maxMs` (core/config.ts RELAY_DEFER_MS, RELAY_DEFER_MAX_MS). Absent or `ms`
   * 0: every row is signalled.
   */
  defer?: { ms: number; maxMs: number };
  /** A PostgreSQL URL to LISTEN on for new outbox rows (the app role's). */
  listenUrl?: string;
  metrics?: Metrics;
  /** Approvals: the reconciler that starts workflows a crash left unstarted (absent: not run). */
  approvals?: { hourMs: number; reconcileAfterSeconds: number };
  /** Campaigns: the Schedule and unstarted-workflow reconciler (absent: not run). */
  campaigns?: { hourMs: number; reconcileMs: number; fullPassMs: number; unstartedAfterSeconds: number };
}

function toEvent(row: OutboxRow): StreamEvent {
  return { seq: row.seq, outboxId: row.id, type: row.event_type, payload: row.payload };
}

/**
 * Per-call deadline: with Temporal down, the client would otherwise retry one call for a long time
 * while this batch's rows stay locked. Failing fast lets the loop back off and retry the batch.
 */
const SIGNAL_DEADLINE_MS = 5_000;

async function signal(deps: RelayDeps, row: OutboxRow): Promise<void> {
  const workflowType = STREAM_WORKFLOWS[row.stream_type].type;
  const send = () => deps.client.withDeadline(Date.now() + SIGNAL_DEADLINE_MS, () => signalOnce(deps, row));
  try {
    // Traces: the row's writer is the parent, so the signal (and the workflow it reaches) joins
    // the SCIM request's trace; the client interceptor puts this span in the signal's headers.
    if (row.traceparent !== null && tracingEnabled()) {
      await inSpan(`outbox.relay ${row.event_type}`, relaySpanOptions(row, row.traceparent, workflowType), send);
    } else {
      await send();
    }
    deps.metrics?.relaySignals.inc({ workflow_type: workflowType, outcome: 'delivered' });
  } catch (err) {
    deps.metrics?.relaySignals.inc({ workflow_type: workflowType, outcome: 'failed' });
    throw err;
  }
}

function relaySpanOptions(row: OutboxRow, traceparent: string, workflowType: string): SpanOptions {
  return {
    kind: SpanKind.PRODUCER,
    parent: contextFromTraceparent(traceparent),
    attributes: { 'roster.outbox.id': row.id, 'roster.stream': `${row.stream_type}/${row.stream_id}`, 'roster.seq': row.seq, 'roster.workflow_type': workflowType },
  };
}

/** Which workflow each outbox stream feeds, and its first input. */
const STREAM_WORKFLOWS = {
  user: { type: 'identityLifecycle', id: identityWorkflowId, args: (row: OutboxRow) => [{ tenantId: row.tenant_id, userId: row.stream_id }] },
  group: { type: 'groupLifecycle', id: groupWorkflowId, args: (row: OutboxRow) => [{ tenantId: row.tenant_id, groupId: row.stream_id }] },
} as const;

async function signalOnce(deps: RelayDeps, row: OutboxRow): Promise<void> {
  const target = STREAM_WORKFLOWS[row.stream_type];
  await deps.client.workflow.signalWithStart(target.type, {
    workflowId: target.id(row.tenant_id, row.stream_id),
    taskQueue: deps.taskQueue,
    args: target.args(row),
    signal: scimChangeSignal,
    signalArgs: [toEvent(row)],
  });
}

/**
 * Delivers one batch: rows are claimed with FOR UPDATE SKIP LOCKED (several relays never take the
 * same row), signalled in order per stream, and marked delivered only after Temporal
 * acknowledged. A failed stream stops at its first failure; its rows wait for the next pass.
 * Before the claim, membership and entitlement rows of an identity that is still busy with an
 * earlier event are deferred (`defer`, a statement of its own): that event's step pulls them, so
 * they cost no signal.
 */
export async function relayOnce(deps: RelayDeps): Promise<{ delivered: number; failed: number; deferred: number }> {
  // Its own transaction, so that what it defers is committed (and unlocked for the steps that
  // pull it) before this batch's signals. The claim stays within the rows it looked at.
  const deferral = deps.defer?.ms ? await deferOutbox(deps.db, deps.batchSize, deps.defer.ms, deps.defer.maxMs) : null;
  const deferred = deferral?.deferred ?? 0;
  if (deferred) deps.metrics?.relayDeferred.inc(deferred);
  // Nothing new and nothing due: no claim (an idle relay's poll is this one statement).
  if (deferral && deferral.windowEnd === 0 && !deferral.due) return { delivered: 0, failed: 0, deferred };
  return deps.db.transaction(async (tx) => {
    const rows = await claimOutbox(tx, deps.batchSize, deferral ? deferral.windowEnd : null);
    if (rows.length === 0) return { delivered: 0, failed: 0, deferred };
    deps.metrics?.relayBatches.inc();
    const streams = new Map<string, OutboxRow[]>();
    for (const row of rows) {
      const key = `${row.stream_type}/${row.stream_id}`;
      const list = streams.get(key) ?? [];
      list.push(row);
      streams.set(key, list);
    }
    const delivered: number[] = [];
    const failed: number[] = [];
    let lastError = '';
    const queue = [...streams.values()];
    const runStream = async () => {
      for (let list = queue.shift(); list; list = queue.shift()) {
        let broken = false;
        for (const row of list) {
          if (broken) {
            failed.push(row.id);
            continue;
          }
          try {
            await signal(deps, row);
            delivered.push(row.id);
          } catch (err) {
            broken = true;
            failed.push(row.id);
            lastError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
          }
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(deps.streamConcurrency, queue.length) }, runStream));
    await markDelivered(tx, delivered);
    await markFailed(tx, failed, lastError);
    if (failed.length) deps.logger.warn({ failed: failed.length, error: lastError }, 'outbox delivery failed; will retry');
    return { delivered: delivered.length, failed: failed.length, deferred };
  });
}

export interface BackgroundLoop {
  stop(): Promise<void>;
  /** Work may be waiting: end an idle pause now (never an error backoff). */
  nudge(): void;
}

/** How long a wake-up waits for more notifications before it claims a batch. */
const NUDGE_COALESCE_MS = 5;

/** Runs `step` until stopped: again at once while it has work, after `idleMs` when idle, backing off on errors. */
export function startLoop(name: string, logger: Logger, idleMs: number, step: () => Promise<boolean>): BackgroundLoop {
  let stopped = false;
  let nudged = false;
  let idle = false;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  const done = (async () => {
    let backoff = idleMs;
    while (!stopped) {
      nudged = false;
      try {
        const busy = await step();
        backoff = idleMs;
        if (!busy && !nudged) {
          idle = true;
          await pause(idleMs);
          idle = false;
        }
      } catch (err) {
        logger.warn({ err, loop: name }, 'background loop step failed');
        backoff = Math.min(backoff * 2, 5_000);
        await pause(backoff);
      }
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await done;
    },
    nudge() {
      if (nudged) return;
      nudged = true;
      // A short grace lets a burst of commits land in one batch instead of one claim per commit.
      if (idle) setTimeout(() => wake?.(), NUDGE_COALESCE_MS).unref();
    },
  };
}

const EVENT_PURGE_INTERVAL_MS = 10 * 60_000;

/** The outbox relay, the audit chain sealer and the events feed sealer, as background loops of the worker process. */
const COUNT_COMPACT_INTERVAL_MS = 1_000;
const POSITION_PURGE_INTERVAL_MS = 60_000;

export function startBackgroundLoops(deps: RelayDeps): BackgroundLoop {
  const relay = startLoop('outbox-relay', deps.logger, deps.pollMs, async () => {
    const r = await relayOnce(deps);
    if (r.failed > 0) throw new Error('outbox delivery failed');
    // A pass that only deferred rows may have left more behind them: go on at once.
    return r.delivered + r.deferred > 0;
  });
  const sealer = startLoop('audit-sealer', deps.logger, Math.max(deps.pollMs, 200), async () => (await sealAuditChains(deps.db)) > 0);
  // The events feed: positions in commit order, and retention (tenants.event_retention_days).
  let lastPurge = 0;
  const feedSealer = startLoop('event-feed-sealer', deps.logger, Math.max(deps.pollMs, 200), async () => {
    const sealed = await sealEventFeeds(deps.db);
    if (Date.now() - lastPurge > EVENT_PURGE_INTERVAL_MS) {
      lastPurge = Date.now();
      await purgeExpiredEvents(deps.db);
    }
    return sealed > 0;
  });
  // Folds the list-count delta rows (core/repositories/list-page.ts) so that a list's
  // totalResults sums a handful of rows; between passes a busy tenant adds one row per write.
  // Once a minute it also drops expired startIndex positions.
  let lastPositionPurge = 0;
  const countCompactor = startLoop('list-count-compactor', deps.logger, COUNT_COMPACT_INTERVAL_MS, async () => {
    if (Date.now() - lastPositionPurge > POSITION_PURGE_INTERVAL_MS) {
      lastPositionPurge = Date.now();
      await purgePositions(deps.db);
    }
    return (await compactCounts(deps.db)) > 0;
  });
  const approvals = deps.approvals;
  const approvalReconciler = approvals
    ? startLoop('approval-reconciler', deps.logger, Math.min(5_000, approvals.reconcileAfterSeconds * 1000), () =>
        reconcileApprovals({ db: deps.db, client: deps.client, taskQueue: deps.taskQueue, logger: deps.logger, hourMs: approvals.hourMs, afterSeconds: approvals.reconcileAfterSeconds }),
      )
    : undefined;
  const campaigns = deps.campaigns;
  const campaignReconcilerLoop = campaigns
    ? startLoop(
        'campaign-reconciler',
        deps.logger,
        campaigns.reconcileMs,
        campaignReconciler({ db: deps.db, client: deps.client, taskQueue: deps.taskQueue, logger: deps.logger, hourMs: campaigns.hourMs, fullPassMs: campaigns.fullPassMs, unstartedAfterSeconds: campaigns.unstartedAfterSeconds }),
      )
    : undefined;
  const listener = deps.listenUrl ? listenForOutbox(deps.listenUrl, deps.logger, () => relay.nudge()) : undefined;
  return {
    async stop() {
      await listener?.stop();
      await Promise.all([relay.stop(), sealer.stop(), feedSealer.stop(), countCompactor.stop(), approvalReconciler?.stop(), campaignReconcilerLoop?.stop()]);
    },
    nudge() {
      relay.nudge();
    },
  };
}

/**
 * LISTENs for the outbox trigger's NOTIFY on a dedicated connection, reconnecting after errors.
 * Losing it only costs latency: the relay still polls.
 */
function listenForOutbox(url: string, logger: Logger, onNotify: () => void): { stop(): Promise<void> } {
  let stopped = false;
  let client: pg.Client | undefined;
  const connect = async (): Promise<void> => {
    if (stopped) return;
    const c = new pg.Client({ connectionString: url });
    c.on('notification', onNotify);
    c.on('error', (err) => {
      logger.warn({ err }, 'outbox listener lost its connection; reconnecting');
      void c.end().catch(() => {});
      if (client === c) client = undefined;
      setTimeout(() => void connect(), 1_000).unref();
    });
    try {
      await c.connect();
      await c.query('LISTEN roster_outbox');
      client = c;
      onNotify(); // anything committed while we were not listening
    } catch (err) {
      logger.warn({ err }, 'outbox listener could not connect; relying on polling until it can');
      void c.end().catch(() => {});
      setTimeout(() => void connect(), 1_000).unref();
    }
  };
  void connect();
  return {
    async stop() {
      stopped = true;
      await client?.end().catch(() => {});
    },
  };
}
