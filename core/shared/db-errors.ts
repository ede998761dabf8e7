import { sqlState } from '../db/pool.js';
import { DomainError } from '../errors.js';

// The one map from PostgreSQL errors to domain errors (core/errors.ts), for every surface: each
// surface's own error mapper asks here first, then turns the DomainError into its response.
// Messages say what went wrong in the request's terms; they never carry the database's message,
// constraint names or values (those stay in the server log).

/** SQLSTATE → what it means for the request. Conflicts and bad values, never server faults. */
const MAP: Readonly<Record<string, (err: unknown) => DomainError>> = {
  // unique_violation
  '23505': () => new DomainError(409, 'conflict', 'a record with the same unique value already exists'),
  // foreign_key_violation: a write naming something that does not exist, or a delete of
  // something still referenced.
  '23503': (err) =>
    /still referenced/i.test(detailOf(err))
      ? new DomainError(409, 'in_use', 'the record is still referenced by others; remove those first')
      : new DomainError(422, 'invalid_reference', 'the request refers to a record that does not exist'),
  // check_violation / not_null_violation
  '23514': () => new DomainError(422, 'invalid_value', 'a value is outside what is allowed'),
  '23502': () => new DomainError(422, 'invalid_value', 'a required value is missing'),
  // invalid_text_representation (a malformed uuid, number, …) / invalid_datetime_format
  '22P02': () => new DomainError(400, 'invalid_request', 'a value is not in the expected format'),
  '22007': () => new DomainError(400, 'invalid_request', 'a date or time is not in the expected format'),
  // datetime_field_overflow, numeric_value_out_of_range, string_data_right_truncation
  '22008': () => new DomainError(400, 'invalid_request', 'a date or time is out of range'),
  '22003': () => new DomainError(400, 'invalid_request', 'a number is out of range'),
  '22001': () => new DomainError(400, 'invalid_request', 'a value is too long'),
};

/**
 * States that are NOT domain errors: serialization failure and deadlock are retried by
 * `withRetry` and, when retries run out, answered 503 + Retry-After (`retryAfterSeconds`).
 */
export const TRANSIENT_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);

/**
 * The SQLSTATE of `err`. slonik's pg driver turns 22P02 into an `InvalidInputError` that keeps
 * only PostgreSQL's message (no code, no cause), and raises the same class for its own "empty
 * query" bugs: PostgreSQL's wording tells the two apart.
 */
function stateOf(err: unknown): string | undefined {
  const state = sqlState(err);
  if (state !== undefined) return state;
  const e = err as { name?: unknown; constructor?: { name?: unknown }; message?: unknown } | undefined;
  const name = e?.constructor?.name ?? e?.name;
  if (name === 'InvalidInputError' && typeof e?.message === 'string' && /^invalid input (syntax|value)/i.test(e.message)) return '22P02';
  return undefined;
}

function detailOf(err: unknown): string {
  for (let e = err as { detail?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.detail === 'string') return e.detail;
    if (typeof e.message === 'string' && /still referenced/i.test(e.message)) return e.message;
  }
  return '';
}

/**
 * The domain error a database error stands for, or undefined when it is not a client's doing
 * (transient states, connection loss, bugs): those stay with the surface's 503 / 500 handling.
 */
export function domainErrorFromDatabase(err: unknown): DomainError | undefined {
  const state = stateOf(err);
  if (state === undefined || TRANSIENT_SQLSTATES.has(state)) return undefined;
  return MAP[state]?.(err);
}

/** `err` as a DomainError when it is one or maps to one; otherwise undefined. */
export function toDomainError(err: unknown): DomainError | undefined {
  return err instanceof DomainError ? err : domainErrorFromDatabase(err);
}
