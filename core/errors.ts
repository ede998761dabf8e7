/**
 * Errors every surface understands. Each API surface maps these to responses in one place
 * (the SCIM error schema for /scim/v2, JSON problems elsewhere); anything else becomes a 500.
 */

/** RFC 7644 §3.12 scimType values, plus RFC 9865's. */
export const SCIM_TYPES = [
  'invalidFilter',
  'tooMany',
  'uniqueness',
  'mutability',
  'invalidSyntax',
  'invalidPath',
  'noTarget',
  'invalidValue',
  'invalidVers',
  'sensitive',
  // RFC 9865 §2 (Pagination Errors): cursor pagination's additions to RFC 7644 §3.12.
  'invalidCursor',
  'expiredCursor',
  'invalidCount',
] as const;
export type ScimType = (typeof SCIM_TYPES)[number];

/** A client error on the SCIM surface: RFC 7644 §3.12. */
export class ScimError extends Error {
  override readonly name = 'ScimError';
  constructor(
    readonly status: number,
    readonly scimType: ScimType | undefined,
    readonly detail: string,
  ) {
    super(detail);
  }

  static badRequest(scimType: ScimType, detail: string): ScimError {
    return new ScimError(400, scimType, detail);
  }
  static notFound(detail: string): ScimError {
    return new ScimError(404, undefined, detail);
  }
  static conflict(detail: string): ScimError {
    return new ScimError(409, 'uniqueness', detail);
  }
}

/** A domain error outside SCIM (portal, app API, CLI). */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
