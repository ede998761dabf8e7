import { z } from 'zod';

/**
 * What the portal and the console show about a SCIM connection's traffic (pure zod: the portal
 * imports these types).
 */
export const ConnectionActivity = z.object({
  connectionId: z.string().uuid(),
  /** The last authenticated request, or null when the connection was never used. */
  lastRequestAt: z.string().nullable(),
  /** Requests and error answers (status ≥ 400) in the last hour, by minute buckets. */
  requests1h: z.number().int(),
  errors1h: z.number().int(),
  /** errors1h / requests1h, 0 when there were no requests. */
  errorRate1h: z.number(),
});
export type ConnectionActivity = z.infer<typeof ConnectionActivity>;

/** One error answer the IdP got; the path never carries its query string. */
export const ScimRequestError = z.object({
  at: z.string(),
  method: z.string(),
  path: z.string(),
  status: z.number().int(),
  scimType: z.string().nullable(),
  detail: z.string().nullable(),
});
export type ScimRequestError = z.infer<typeof ScimRequestError>;

export const errorRate = (requests: number, errors: number): number => (requests > 0 ? errors / requests : 0);
