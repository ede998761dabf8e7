import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ScimError } from '../core/errors.js';

extendZodWithOpenApi(z);

/**
 * Query and SearchRequest parameters of the SCIM surface: scim-router.ts validates with these and
 * openapi.ts describes them, so the document states exactly what the server enforces. Filter,
 * attribute-path and sortBy grammar (RFC 7644 §3.4.2.2, §3.10) is checked by the parsers behind
 * them; a schema can only say "a string".
 */

/** Decimal integers only ("0x10", "1e3" are not page numbers); described as an integer. */
const IntegerText = z
  .string()
  .regex(/^\s*[+-]?\d+\s*$/, 'must be an integer')
  .openapi({ type: 'integer' });
/** RFC 7644 §3.4.2.3; we compare case-insensitively, as attribute names are. */
const SortOrder = z
  .string()
  .regex(/^([Aa][Ss][Cc][Ee][Nn][Dd][Ii][Nn][Gg]|[Dd][Ee][Ss][Cc][Ee][Nn][Dd][Ii][Nn][Gg])$/, 'must be "ascending" or "descending"')
  .describe('ascending | descending (RFC 7644 §3.4.2.3)');

/** One value per parameter: a repeated `?sortOrder=a&sortOrder=b` is ambiguous, so it is refused. */
export const ScimListQuery = z.object({
  filter: z.string().optional().describe('RFC 7644 §3.4.2.2 filter'),
  startIndex: IntegerText.optional().describe('1-based; values below 1 read as 1'),
  count: IntegerText.optional().describe('page size; negative reads as 0, capped at filter.maxResults'),
  cursor: z.string().optional().describe('RFC 9865 cursor paging: empty for the first page, then nextCursor or previousCursor'),
  sortBy: z.string().optional().describe('attribute path (RFC 7644 §3.4.2.3)'),
  sortOrder: SortOrder.optional(),
  attributes: z.string().optional().describe('comma-separated attribute paths (RFC 7644 §3.9)'),
  excludedAttributes: z.string().optional().describe('comma-separated attribute paths (RFC 7644 §3.9)'),
});
export type ScimListQuery = z.infer<typeof ScimListQuery>;

/** Only `attributes` / `excludedAttributes` apply to a single resource (RFC 7644 §3.9). */
export const ScimProjectionQuery = ScimListQuery.pick({ attributes: true, excludedAttributes: true });

const AttributeList = z.union([z.string(), z.array(z.string())]);

/** RFC 7644 §3.4.3 SearchRequest: JSON types; attribute lists as arrays (or, leniently, a string). */
export const ScimSearchRequest = z
  .object({
    schemas: z.array(z.string()).optional(),
    filter: z.string().optional(),
    // Integers per RFC 7644 §3.4.3; integer strings too, read as the query string reads them.
    startIndex: z.union([z.number().int(), IntegerText]).optional(),
    count: z.union([z.number().int(), IntegerText]).optional(),
    cursor: z.string().optional(),
    sortBy: z.string().optional(),
    sortOrder: SortOrder.optional(),
    attributes: AttributeList.optional(),
    excludedAttributes: AttributeList.optional(),
  })
  .passthrough();

/**
 * Parses list parameters, matching their names case-insensitively as IdPs spell them freely. A
 * failure is 400 invalidValue (invalidFilter for the filter, invalidCursor for a cursor).
 */
export function parseScimParams<T extends z.ZodTypeAny>(schema: T, source: Record<string, unknown>): z.infer<T> {
  const shape = (schema instanceof z.ZodObject ? schema.shape : {}) as Record<string, unknown>;
  const folded: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    const known = Object.keys(shape).find((k) => k.toLowerCase() === key.toLowerCase());
    folded[known ?? key] = value;
  }
  const parsed = schema.safeParse(folded);
  if (parsed.success) return parsed.data as z.infer<T>;
  const issue = parsed.error.issues[0];
  const name = String(issue?.path[0] ?? 'parameter');
  const why = issue?.code === 'invalid_type' && issue.expected === 'string' ? 'must be given once, as a string' : (issue?.message ?? 'invalid');
  // RFC 7644 §3.4.2.2 for a filter, RFC 9865 §2.5 for a cursor, invalidValue for the rest.
  const scimType = name === 'filter' ? 'invalidFilter' : name === 'cursor' ? 'invalidCursor' : 'invalidValue';
  throw ScimError.badRequest(scimType, `${name}: ${why}`);
}
