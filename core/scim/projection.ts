import { ScimError } from '../errors.js';
import { type AttributeDef, type ResourceTypeDef, resolveAttribute } from './schema.js';

/** RFC 7644 §3.9: `attributes` / `excludedAttributes`, parsed from comma-separated lists. */
export interface Projection {
  attributes?: string[];
  excludedAttributes?: string[];
}

export function parseAttributeList(value: unknown): string[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const list = Array.isArray(value) ? value : [value];
  const out: string[] = [];
  for (const item of list) {
    if (typeof item !== 'string') throw ScimError.badRequest('invalidValue', 'attributes must be a comma-separated string');
    for (const part of item.split(',')) {
      const trimmed = part.trim();
      if (trimmed) out.push(trimmed);
    }
  }
  if (out.length > 200) throw ScimError.badRequest('invalidValue', 'too many attribute names');
  return out.length ? out : undefined;
}

interface Selector {
  /** Top-level key in the rendered resource (catalogue spelling or extension URN). */
  key: string;
  sub?: string;
}

function selectorOf(rt: ResourceTypeDef, path: string): Selector | undefined {
  const resolved = resolveAttribute(rt, path);
  if (!resolved) return undefined;
  if (resolved.extension) {
    return { key: resolved.extension, sub: resolved.sub ? `${resolved.def.name}.${resolved.sub.name}` : resolved.def.name };
  }
  return resolved.sub ? { key: resolved.def.name, sub: resolved.sub.name } : { key: resolved.def.name };
}

const ALWAYS = new Set(['id', 'schemas']);

function defOf(rt: ResourceTypeDef, key: string): AttributeDef | undefined {
  return resolveAttribute(rt, key)?.def;
}

/** Does the rendered resource need `key` at all? Lets callers skip expensive joins (members). */
export function wantsAttribute(rt: ResourceTypeDef, projection: Projection, key: string): boolean {
  if (projection.attributes) {
    return projection.attributes.some((p) => selectorOf(rt, p)?.key === key);
  }
  if (projection.excludedAttributes) {
    return !projection.excludedAttributes.some((p) => {
      const s = selectorOf(rt, p);
      return s?.key === key && !s.sub;
    });
  }
  return true;
}

/**
 * Applies a projection to a rendered resource. Unknown names are ignored (RFC 7644 §3.9 lets
 * servers do so, and Entra asks for attributes some schemas lack). `id` and `schemas` are always
 * returned, `returned: never` attributes never are.
 */
export function project(rt: ResourceTypeDef, resource: Record<string, unknown>, projection: Projection): Record<string, unknown> {
  if (!projection.attributes && !projection.excludedAttributes) return resource;
  const out: Record<string, unknown> = {};
  if (projection.attributes) {
    const selectors = projection.attributes.map((p) => selectorOf(rt, p)).filter((s): s is Selector => !!s);
    for (const [key, value] of Object.entries(resource)) {
      const def = defOf(rt, key);
      if (ALWAYS.has(key) || def?.returned === 'always') {
        out[key] = value;
        continue;
      }
      const matching = selectors.filter((s) => s.key === key);
      if (matching.length === 0) continue;
      if (matching.some((s) => !s.sub)) {
        out[key] = value;
        continue;
      }
      out[key] = pickSubs(value, matching.map((s) => s.sub!));
    }
    return out;
  }
  const excluded = (projection.excludedAttributes ?? []).map((p) => selectorOf(rt, p)).filter((s): s is Selector => !!s);
  for (const [key, value] of Object.entries(resource)) {
    const def = defOf(rt, key);
    const matching = excluded.filter((s) => s.key === key);
    if (ALWAYS.has(key) || def?.returned === 'always' || matching.length === 0) {
      out[key] = value;
    } else if (!matching.some((s) => !s.sub)) {
      out[key] = omitSubs(value, matching.map((s) => s.sub!));
    }
  }
  return out;
}

function pickFrom(obj: unknown, subs: string[]): unknown {
  if (!obj || typeof obj !== 'object') return obj;
  const out: Record<string, unknown> = {};
  for (const sub of subs) {
    const [head, rest] = splitFirst(sub);
    const value = (obj as Record<string, unknown>)[head];
    if (value === undefined) continue;
    out[head] = rest ? pickFrom(value, [rest]) : value;
  }
  return out;
}

function pickSubs(value: unknown, subs: string[]): unknown {
  return Array.isArray(value) ? value.map((v) => pickFrom(v, subs)) : pickFrom(value, subs);
}

function omitFrom(obj: unknown, subs: string[]): unknown {
  if (!obj || typeof obj !== 'object') return obj;
  const out: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  for (const sub of subs) {
    const [head, rest] = splitFirst(sub);
    if (rest) out[head] = omitFrom(out[head], [rest]);
    else delete out[head];
  }
  return out;
}

function omitSubs(value: unknown, subs: string[]): unknown {
  return Array.isArray(value) ? value.map((v) => omitFrom(v, subs)) : omitFrom(value, subs);
}

function splitFirst(path: string): [string, string | undefined] {
  const i = path.indexOf('.');
  return i < 0 ? [path, undefined] : [path.slice(0, i), path.slice(i + 1)];
}
