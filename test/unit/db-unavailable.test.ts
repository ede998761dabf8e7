import { BackendTerminatedError, ConnectionError } from 'slonik';
import { describe, expect, it } from 'vitest';
import { retryAfterSeconds } from '../../core/db/pool.js';

/**
 * A database that is restarting must read as "retry later" (503 + Retry-After), never as a 500.
 * The chaos run (test/chaos) found the case this pins: slonik's ConnectionError keeps `name` =
 * 'Error' and the socket's ECONNREFUSED only in its cause, so a pool that could not connect while
 * PostgreSQL restarted answered the IdP 500.
 */
describe('retryAfterSeconds', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

  it("slonik's ConnectionError (a refused connect in its cause) is transient", () => {
    const err = new ConnectionError(refused.message, { cause: refused });
    expect(err.name).toBe('Error');
    expect(retryAfterSeconds(err)).toBe(2);
  });

  it('a terminated backend and a socket error wrapped once are transient', () => {
    expect(retryAfterSeconds(new BackendTerminatedError(new Error('terminating connection due to administrator command')))).toBe(2);
    expect(retryAfterSeconds(new Error('query failed', { cause: refused }))).toBe(2);
    expect(retryAfterSeconds(Object.assign(new Error('admin shutdown'), { code: '57P01' }))).toBe(2);
  });

  it('a bug is not', () => {
    expect(retryAfterSeconds(new TypeError('x is undefined'))).toBeUndefined();
    expect(retryAfterSeconds(Object.assign(new Error('unique'), { code: '23505' }))).toBeUndefined();
  });
});
