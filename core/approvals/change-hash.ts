import { createHash } from 'node:crypto';
import type { ChangeDescription, ChangeKind } from './schema.js';

/**
 * JSON with object keys sorted at every level (arrays keep their order), so equal values always
 * serialise to the same bytes: what the binding hash is computed over. `undefined` members are
 * dropped as JSON.stringify drops them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** sha256 (hex) of the canonical JSON of kind, before and after: what an approval is bound to. */
export function changeHash(kind: ChangeKind, description: Pick<ChangeDescription, 'before' | 'after'>): string {
  return createHash('sha256').update(canonicalJson({ kind, before: description.before ?? null, after: description.after ?? null }), 'utf8').digest('hex');
}
