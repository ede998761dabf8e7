import {
  ActivityFailure,
  allHandlersFinished,
  CancelledFailure,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { EventActivities } from '../activities/events.js';
import { databaseActivity, databaseLocalActivity, webhookActivity } from './activity-options.js';
import { deliverEventSignal, type EventDeliveryStatus, eventDeliveryStatusQuery, redeliverEventsSignal } from './messages.js';

type Lookup = Pick<EventActivities, 'listEndpointsForEvent'>;
/** Histories recorded before LOCAL_LOOKUP looked endpoints up with a regular activity. */
const lookupV1 = proxyActivities<Lookup>(databaseActivity);
/**
 * One short indexed read per event: as a local activity it runs inside the workflow task instead of
 * costing an activity task and a further workflow task on the server (the dev server's persistence
 * is what bounds flow-through under load; see docs/operations.md "Proven under faults").
 */
const lookupLocal = proxyLocalActivities<Lookup>(databaseLocalActivity);
const LOCAL_LOOKUP = 'endpoint-lookup-local-activity';
const listEndpointsForEvent: Lookup['listEndpointsForEvent'] = (input) => (patched(LOCAL_LOOKUP) ? lookupLocal : lookupV1).listEndpointsForEvent(input);
const webhooks = proxyActivities<Pick<EventActivities, 'deliverWebhook'>>(webhookActivity);

export interface DeliveryCarry {
  queue: string[];
  lanes: [endpointId: string, eventIds: string[]][];
  recent: string[];
  delivered: number;
  givenUp: number;
}

export interface EventDeliveryInput {
  tenantId: string;
  subjectType: string;
  subjectId: string;
  /** Carried across continue-as-new; absent on the first run. */
  carried?: DeliveryCarry;
  /** Continue-as-new threshold (history events); tests lower it to exercise the hand-over. */
  historyLimit?: number;
}

/** Past this many history events the workflow continues as new (queues carried, nothing lost). */
const HISTORY_LIMIT = 2_000;
/** With nothing to do for this long the workflow completes; the next event starts it again. */
const IDLE_TIMEOUT = '1 hour';
/** Event ids remembered to drop redelivered signals (an emitter's retried activity signals again). */
const RECENT_LIMIT = 1_000;

/**
 * The delivery plan of one subject: event ids in arrival order, then one lane per endpoint.
 * A lane delivers strictly in order (event n + 1 waits until n was delivered or given up), and
 * lanes are independent, so an endpoint that is down for days does not hold up the others.
 */
export class DeliveryPlan {
  readonly queue: string[];
  private readonly lanes: Map<string, string[]>;
  private readonly recent: string[];
  private readonly seen: Set<string>;
  delivered: number;
  givenUp: number;

  constructor(carried?: DeliveryCarry) {
    this.queue = [...(carried?.queue ?? [])];
    this.lanes = new Map((carried?.lanes ?? []).map(([id, events]) => [id, [...events]]));
    this.recent = [...(carried?.recent ?? [])];
    this.seen = new Set(this.recent);
    this.delivered = carried?.delivered ?? 0;
    this.givenUp = carried?.givenUp ?? 0;
  }

  /** Queues an event once; a repeated id is dropped. */
  accept(eventId: string): boolean {
    if (this.seen.has(eventId)) return false;
    this.seen.add(eventId);
    this.recent.push(eventId);
    if (this.recent.length > RECENT_LIMIT) this.seen.delete(this.recent.shift()!);
    this.queue.push(eventId);
    return true;
  }

  /** Moves the head of the queue into the lanes of the endpoints that take it. */
  expandHead(endpointIds: readonly string[]): void {
    const eventId = this.queue.shift();
    if (eventId === undefined) return;
    for (const endpointId of endpointIds) {
      const lane = this.lanes.get(endpointId) ?? [];
      lane.push(eventId);
      this.lanes.set(endpointId, lane);
    }
  }

  /**
   * Queues events for one endpoint again (a redelivery), after what its lane already holds. An id
   * already waiting behind the head is not queued twice; the head may be in flight since before the
   * request, so it is queued again (the activity skips it if an attempt that began after the
   * request already delivered it). The dedupe of `accept` does not apply: the receiver is meant to
   * see the event again, and dedupes by its id.
   */
  requeue(endpointId: string, eventIds: readonly string[]): void {
    const lane = this.lanes.get(endpointId) ?? [];
    for (const eventId of eventIds) if (!lane.slice(1).includes(eventId)) lane.push(eventId);
    if (lane.length > 0) this.lanes.set(endpointId, lane);
  }

  laneHead(endpointId: string): string | undefined {
    return this.lanes.get(endpointId)?.[0];
  }

  finishLaneHead(endpointId: string, delivered: boolean): void {
    const lane = this.lanes.get(endpointId);
    if (!lane) return;
    lane.shift();
    if (lane.length === 0) this.lanes.delete(endpointId);
    if (delivered) this.delivered++;
    else this.givenUp++;
  }

  pendingLanes(): string[] {
    return [...this.lanes.keys()];
  }

  isIdle(): boolean {
    return this.queue.length === 0 && this.lanes.size === 0;
  }

  carry(): DeliveryCarry {
    return { queue: [...this.queue], lanes: [...this.lanes].map(([id, events]) => [id, [...events]]), recent: [...this.recent], delivered: this.delivered, givenUp: this.givenUp };
  }

  status(input: EventDeliveryInput): EventDeliveryStatus {
    return {
      tenantId: input.tenantId,
      subjectType: input.subjectType,
      subjectId: input.subjectId,
      queuedEventIds: [...this.queue],
      lanes: [...this.lanes].map(([endpointId, eventIds]) => ({ endpointId, eventIds: [...eventIds] })),
      delivered: this.delivered,
      givenUp: this.givenUp,
    };
  }
}

/**
 * A delivery to give up for this event and endpoint: the endpoint or event is gone (a
 * non-retryable WEBHOOK_FAILURE_TYPES failure), or Temporal's retries ran out (scheduleToClose).
 * Cancellation of the workflow is not a give-up.
 */
function isGivenUp(err: unknown): boolean {
  return err instanceof ActivityFailure && !(err.cause instanceof CancelledFailure);
}

/**
 * The delivery workflow of one event subject (`delivery/<tenant>/<subjectType>/<subjectId>`):
 * receives event ids by signal in emission order and delivers each to every subscribed endpoint
 * through a retried activity, in order per endpoint. Ends after an idle hour.
 */
export async function eventDelivery(input: EventDeliveryInput): Promise<void> {
  const { tenantId } = input;
  const plan = new DeliveryPlan(input.carried);
  const running = new Set<string>();
  let draining = false;
  let fatal: Error | undefined;

  setHandler(deliverEventSignal, ({ eventId }) => {
    plan.accept(eventId);
  });
  setHandler(eventDeliveryStatusQuery, () => plan.status(input));

  const historyLimit = input.historyLimit ?? HISTORY_LIMIT;
  const shouldContinueAsNew = () => workflowInfo().historyLength > historyLimit || workflowInfo().continueAsNewSuggested;

  const runLane = async (endpointId: string) => {
    try {
      for (let eventId = plan.laneHead(endpointId); eventId !== undefined && !draining; eventId = plan.laneHead(endpointId)) {
        let delivered = true;
        try {
          await webhooks.deliverWebhook({ tenantId, eventId, endpointId });
        } catch (err) {
          if (!isGivenUp(err)) throw err;
          delivered = false;
        }
        plan.finishLaneHead(endpointId, delivered);
      }
    } catch (err) {
      fatal ??= err instanceof Error ? err : new Error(String(err));
    } finally {
      running.delete(endpointId);
    }
  };

  const startIdleLanes = () => {
    if (draining) return;
    for (const endpointId of plan.pendingLanes()) {
      if (running.has(endpointId)) continue;
      running.add(endpointId);
      void runLane(endpointId);
    }
  };

  // Registered once startIdleLanes exists: a signal buffered before the handler runs it at once.
  setHandler(redeliverEventsSignal, ({ endpointId, eventIds }) => {
    plan.requeue(endpointId, eventIds);
    startIdleLanes();
  });

  startIdleLanes();
  for (;;) {
    while (plan.queue.length > 0 && !draining && fatal === undefined) {
      const { endpointIds } = await listEndpointsForEvent({ tenantId, eventId: plan.queue[0]! });
      plan.expandHead(endpointIds);
      startIdleLanes();
      if (shouldContinueAsNew()) draining = true;
    }
    if (fatal !== undefined) throw fatal;
    if (shouldContinueAsNew()) draining = true;
    if (draining) {
      // Lanes stop after their in-flight delivery; what is left is carried to the next run.
      await condition(() => running.size === 0);
      await condition(allHandlersFinished);
      await continueAsNew<typeof eventDelivery>({ ...input, carried: plan.carry() });
    }
    if (plan.isIdle() && running.size === 0) {
      const woke = await condition(() => plan.queue.length > 0 || running.size > 0, IDLE_TIMEOUT);
      if (!woke) {
        await condition(allHandlersFinished);
        if (plan.isIdle() && running.size === 0) return;
      }
    } else {
      await condition(() => plan.queue.length > 0 || running.size === 0 || fatal !== undefined || shouldContinueAsNew());
    }
  }
}
