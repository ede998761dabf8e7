import { expect } from 'vitest';
import { ScimError } from '../../core/errors.js';
import { URN } from '../../core/scim/schema.js';
import type { ScimResponse } from './stack.js';

/** What the SCIM suites share: schema URNs, request builders and the error-schema assertion. */
export const USER = URN.user;
export const GROUP = URN.group;
export const ENT = URN.enterprise;
export const ERROR = URN.error;
export const LIST = URN.listResponse;
export const PATCH_OP = URN.patchOp;
export const SCIM_JSON = /^application\/scim\+json/;

export const enc = encodeURIComponent;
export const patchBody = (...ops: unknown[]) => ({ schemas: [PATCH_OP], Operations: ops });

/** RFC 7644 §3.12: the status, the media type, the error schema with `status` as a string. */
export function expectScimError(res: ScimResponse, status: number, scimType?: string): void {
  expect(res.status, JSON.stringify(res.body)?.slice(0, 500)).toBe(status);
  expect(res.headers.get('content-type')).toMatch(SCIM_JSON);
  expect(res.body.schemas).toEqual([ERROR]);
  expect(res.body.status).toBe(String(status));
  expect(typeof res.body.detail).toBe('string');
  if (scimType) expect(res.body.scimType).toBe(scimType);
}

/** Runs `fn` and returns the ScimError it throws (anything else, or nothing, fails the test). */
export function thrownScimError(fn: () => unknown): ScimError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ScimError);
    return e as ScimError;
  }
  throw new Error('expected a ScimError, nothing was thrown');
}
