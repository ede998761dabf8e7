import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ZodError } from 'zod';
import { retryAfterSeconds } from '../core/db/pool.js';
import { DomainError, ScimError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import type { FailureType } from '../workflows/failures.js';

/**
 * Attempts after which an error nobody classified stops being retried and becomes a non-retryable
 * `Unexpected` failure (the identity's stream parks). Transient database conditions never count:
 * a database restart must not park every stream that was busy at the time.
 */
export const UNEXPECTED_ERROR_ATTEMPTS = 5;

/**
 * The Temporal boundary (style.md rule 5): a domain error is permanent — the same input will be
 * refused again — so it becomes a non-retryable `EventInvalid`; a transient database error stays
 * retryable without limit; anything else is retried a few times, then made `Unexpected`.
 */
export function toFailure(err: unknown, attempt: number): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof DomainError || err instanceof ScimError || err instanceof ZodError) {
    return failure('EventInvalid', err.message, err);
  }
  if (retryAfterSeconds(err) !== undefined) return err;
  if (attempt >= UNEXPECTED_ERROR_ATTEMPTS) {
    const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return failure('Unexpected', `failed ${attempt} times: ${message}`, err);
  }
  return err;
}

function failure(type: FailureType, message: string, cause: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...(cause instanceof Error ? { cause } : {}) });
}

type AsyncFunctions = Record<string, (...args: never[]) => Promise<unknown>>;

/** Wraps every activity of a factory so its errors are classified at the boundary (and counted). */
export function classifyFailures<T extends AsyncFunctions>(activities: T, metrics?: Metrics): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        const failure = toFailure(err, Context.current().info.attempt);
        const type = failure instanceof ApplicationFailure ? (failure.nonRetryable ? (failure.type ?? 'nonRetryable') : (failure.type ?? 'retryable')) : 'retryable';
        metrics?.activityFailures.inc({ activity: name, failure_type: type });
        throw failure;
      }
    };
  }
  return wrapped as T;
}
