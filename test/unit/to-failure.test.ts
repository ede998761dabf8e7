import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { toFailure, UNEXPECTED_ERROR_ATTEMPTS } from '../../activities/to-failure.js';
import { TransientDatabaseError } from '../../core/db/pool.js';
import { DomainError, ScimError } from '../../core/errors.js';
import { PARKING_FAILURES, permanentFailure } from '../../workflows/failures.js';

describe('failures are classified at the Temporal boundary', () => {
  it('domain errors become non-retryable EventInvalid at once', () => {
    for (const err of [new DomainError(422, 'x', 'refused'), ScimError.badRequest('invalidValue', 'bad'), z.string().safeParse(1).error!]) {
      const f = toFailure(err, 1);
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect(f).toMatchObject({ type: 'EventInvalid', nonRetryable: true });
      expect(permanentFailure(f, PARKING_FAILURES)?.type).toBe('EventInvalid');
    }
  });

  it('transient database errors stay retryable however many attempts', () => {
    const transient = new TransientDatabaseError('contended', 1);
    expect(toFailure(transient, 1_000)).toBe(transient);
    const restarting = Object.assign(new Error('the database system is shutting down'), { code: '57P03' });
    expect(toFailure(restarting, 1_000)).toBe(restarting);
  });

  it('unknown errors are retried, then become non-retryable Unexpected', () => {
    const bug = new TypeError('x is undefined');
    for (let attempt = 1; attempt < UNEXPECTED_ERROR_ATTEMPTS; attempt++) expect(toFailure(bug, attempt)).toBe(bug);
    expect(toFailure(bug, UNEXPECTED_ERROR_ATTEMPTS)).toMatchObject({ type: 'Unexpected', nonRetryable: true });
  });

  it('typed application failures pass through unchanged', () => {
    const gone = ApplicationFailure.create({ type: 'EndpointGone', nonRetryable: true, message: 'gone' });
    expect(toFailure(gone, 1)).toBe(gone);
    expect(permanentFailure(gone, PARKING_FAILURES)).toBeUndefined();
  });
});

describe('classifyFailures (in a real activity context)', () => {
  it('throws the classified failure and counts it by activity and type', async () => {
    const { MockActivityEnvironment } = await import('@temporalio/testing');
    const { createMetrics } = await import('../../core/metrics.js');
    const { classifyFailures } = await import('../../activities/to-failure.js');
    const metrics = createMetrics({ process: 'worker' });
    const acts = classifyFailures(
      {
        refuse: async (): Promise<void> => {
          throw new DomainError(422, 'nope', 'refused');
        },
        flaky: async (): Promise<void> => {
          throw new Error('connection hiccup');
        },
      },
      metrics,
    );
    const env = new MockActivityEnvironment();
    await expect(env.run(acts.refuse)).rejects.toMatchObject({ type: 'EventInvalid', nonRetryable: true });
    await expect(env.run(acts.flaky)).rejects.toThrow('connection hiccup');
    const text = await metrics.registry.metrics();
    expect(text).toContain('roster_activity_failures_total{activity="refuse",failure_type="EventInvalid",process="worker"} 1');
    expect(text).toContain('roster_activity_failures_total{activity="flaky",failure_type="retryable",process="worker"} 1');
  });
});
