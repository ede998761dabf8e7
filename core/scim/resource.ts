import { z } from 'zod';
import { ScimError } from '../errors.js';
import { URN, commonAttributes, resourceTypes, splitUrn, type AttributeDef, type ResourceTypeDef } from './schema.js';

/**
 * Canonical SCIM resources (the shape the storage layer maps to columns) and the normaliser that
 * turns what real IdPs send in POST / PUT bodies into that shape (docs/scim.md "Across IdPs").
 *
 * Normalise first, then validate: IdPs bend the RFC (case-variant names, "True" strings, URN-prefixed
 * keys, string managers, read-only echoes), and rejecting those breaks provisioning on day one.
 * The PATCH engine (patch.ts) reuses the helpers exported here so both paths coerce identically.
 */

/** Input limits. Depth counts objects and arrays, the resource itself being level 1. */
export const LIMITS = {
  maxDepth: 10,
  maxItems: 1000,
  /**
   * Group members in one request: a tenant's "everyone" group is pushed whole (Okta's "push now"
   * replaces `members` with the full list). The body-size limit bounds it in practice (~20,000
   * members per MiB), so this only stops absurd arrays early.
   */
  maxMembers: 100_000,
  maxKeys: 1000,
  maxUserNameLength: 256,
} as const;

// Identifiers (userName, displayName, externalId, member ids) must not carry C0 controls or DEL:
// they end up in logs, LIKE patterns and downstream systems' usernames. Written as patterns (not
// refinements) so the OpenAPI document generated from these schemas states them too.
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;
/** No control characters, and at least one character that is not white space (what trim() strips). */
const NON_BLANK_NO_CONTROL = /^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$/;
const CONTROL_MESSAGE = 'must not contain control characters';

/**
 * Names that reach Object.prototype when used as keys or path segments (the scim-patch
 * CVE-2026-48170 vectors `__proto__`, `constructor.prototype`, `toString`, and their siblings).
 * Listed explicitly rather than read from Object.prototype so a polluted prototype cannot widen it.
 */
const FORBIDDEN_NAMES: ReadonlySet<string> = new Set(
  [
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    'toLocaleString',
    'valueOf',
    'hasOwnProperty',
    'isPrototypeOf',
    'propertyIsEnumerable',
    '__defineGetter__',
    '__defineSetter__',
    '__lookupGetter__',
    '__lookupSetter__',
  ].map((n) => n.toLowerCase()),
);

/** True for names that must never be used as a key or path segment (any case). */
export function isForbiddenName(name: string): boolean {
  return FORBIDDEN_NAMES.has(name.toLowerCase());
}

// ---------------------------------------------------------------------------------------------
// Zod schemas: the single source of the canonical types.

const optString = z.string().optional();
const identifier = z.string().regex(NO_CONTROL, CONTROL_MESSAGE);
const requiredIdentifier = z.string().regex(NON_BLANK_NO_CONTROL, 'must not be empty or contain control characters');

/** RFC 7643 §2.4: "primary" true MUST appear no more than once in a multi-valued attribute. */
const atMostOnePrimary = (items: readonly { primary?: boolean | undefined }[]) =>
  items.filter((i) => i.primary === true).length <= 1;

const multiValued = <T extends z.ZodTypeAny>(item: T) =>
  z
    .array(item)
    .max(LIMITS.maxItems)
    .refine(atMostOnePrimary, 'at most one value may be primary (RFC 7643 §2.4)')
    .optional();

const MultiValueSchema = z
  .object({ value: z.string(), type: optString, primary: z.boolean().optional(), display: optString })
  .passthrough();

const AddressSchema = z
  .object({
    formatted: optString,
    streetAddress: optString,
    locality: optString,
    region: optString,
    postalCode: optString,
    country: optString,
    type: optString,
    primary: z.boolean().optional(),
  })
  .passthrough();

const NameSchema = z
  .object({
    formatted: optString,
    familyName: optString,
    givenName: optString,
    middleName: optString,
    honorificPrefix: optString,
    honorificSuffix: optString,
  })
  .passthrough();

export const EnterpriseUserSchema = z
  .object({
    employeeNumber: optString,
    costCenter: optString,
    organization: optString,
    division: optString,
    department: optString,
    manager: z.object({ value: z.string(), $ref: optString, displayName: optString }).passthrough().optional(),
  })
  .passthrough();

/**
 * A stored User. Never holds `id`, `meta`, `schemas`, `password` or `groups`: the storage layer
 * adds id/meta/schemas/groups on output, and passwords are not kept at all.
 */
export const ScimUserSchema = z
  .object({
    userName: requiredIdentifier.refine(
      (s) => [...s].length <= LIMITS.maxUserNameLength,
      `must be at most ${LIMITS.maxUserNameLength} characters`,
    ),
    externalId: identifier.nullable().optional(),
    name: NameSchema.optional(),
    displayName: identifier.optional(),
    nickName: optString,
    title: optString,
    userType: optString,
    preferredLanguage: optString,
    locale: optString,
    timezone: optString,
    profileUrl: optString,
    active: z.boolean().default(true),
    emails: multiValued(MultiValueSchema),
    phoneNumbers: multiValued(MultiValueSchema),
    ims: multiValued(MultiValueSchema),
    photos: multiValued(MultiValueSchema),
    entitlements: multiValued(MultiValueSchema),
    roles: multiValued(MultiValueSchema),
    x509Certificates: multiValued(MultiValueSchema),
    addresses: multiValued(AddressSchema),
    [URN.enterprise]: EnterpriseUserSchema.optional(),
  })
  .passthrough();
export type ScimUser = z.infer<typeof ScimUserSchema>;

/** A stored Group. `members` live in their own table and are never part of this object. */
export const ScimGroupSchema = z
  .object({
    displayName: requiredIdentifier,
    externalId: identifier.nullable().optional(),
  })
  .passthrough();
export type ScimGroup = z.infer<typeof ScimGroupSchema>;

/** A Group member reference as sent by IdPs (`$ref` is derived on output, so it is dropped). */
export const MemberRefSchema = z.object({
  value: requiredIdentifier,
  type: z.enum(['User', 'Group']).optional(),
  display: optString,
});
export type MemberRef = z.infer<typeof MemberRefSchema>;

// ---------------------------------------------------------------------------------------------
// JSON helpers that never read or write through the prototype chain.

export type JsonObject = Record<string, unknown>;

export function isPlainObject(v: unknown): v is JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Reads an own property only: `getOwn({}, 'toString')` is undefined. */
export function getOwn(o: JsonObject, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/**
 * Writes an own data property. defineProperty never invokes the `__proto__` setter, so even a
 * hostile key could only create an own property; callers still reject such keys up front.
 */
export function setOwn(o: JsonObject, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

export function deleteOwn(o: JsonObject, key: string): void {
  if (Object.hasOwn(o, key)) delete o[key];
}

/** Deep copy of a JSON value (callers validate depth first, so recursion is bounded). */
export function cloneJson<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x: unknown) => cloneJson(x)) as T;
  if (isPlainObject(v)) {
    const out: JsonObject = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, cloneJson(x));
    return out as T;
  }
  return v;
}

/** Structural equality of JSON values; object key order does not matter. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

const invalidValue = (detail: string) => ScimError.badRequest('invalidValue', detail);

/**
 * Rejects anything that is not plain JSON within our limits: nesting deeper than
 * LIMITS.maxDepth, arrays over LIMITS.maxMembers, objects over LIMITS.maxKeys, non-finite numbers,
 * and keys that reach Object.prototype (any depth, any case). Bounded recursion: it stops at the
 * depth limit, so hostile nesting cannot overflow the stack.
 */
export function assertSafeJson(value: unknown, label: string, depth = 1): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw invalidValue(`${label}: not a finite number`);
    return;
  }
  if (Array.isArray(value) || isPlainObject(value)) {
    if (depth > LIMITS.maxDepth) throw invalidValue(`${label}: nested deeper than ${LIMITS.maxDepth} levels`);
    if (Array.isArray(value)) {
      // The generic bound is the member list's: schema-specific ones (emails, …) come after.
      if (value.length > LIMITS.maxMembers) throw invalidValue(`${label}: more than ${LIMITS.maxMembers} values`);
      for (let i = 0; i < value.length; i++) assertSafeJson(value[i], `${label}[${i}]`, depth + 1);
      return;
    }
    const keys = Object.keys(value);
    if (keys.length > LIMITS.maxKeys) throw invalidValue(`${label}: more than ${LIMITS.maxKeys} attributes`);
    for (const k of keys) {
      if (isForbiddenName(k)) throw invalidValue(`${label ? `${label}.` : ''}${k}: attribute name not allowed`);
      assertSafeJson(value[k], label ? `${label}.${k}` : k, depth + 1);
    }
    return;
  }
  throw invalidValue(`${label}: not a JSON value`);
}

// ---------------------------------------------------------------------------------------------
// Catalogue lookups and coercion.

/** Case-insensitive catalogue lookup (RFC 7643 §2.1: attribute names are case-insensitive). */
export function findAttributeDef(list: readonly AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  const lower = name.toLowerCase();
  return list?.find((a) => a.name.toLowerCase() === lower);
}

/** Core attributes of a resource type, common ones (id, externalId, meta) included. */
export function coreAttributes(rt: ResourceTypeDef): readonly AttributeDef[] {
  return [...commonAttributes, ...rt.schema.attributes];
}

/**
 * Spellings of the core schema URN itself (not followed by an attribute). Mirrors the aliases
 * splitUrn strips: OneLogin's `urn:scim:schemas:core:2.0` style and Google's 1.0 URN.
 */
export function coreUrnAliases(rt: ResourceTypeDef): readonly string[] {
  return [
    rt.schema.id.toLowerCase(),
    `urn:scim:schemas:core:2.0:${rt.name.toLowerCase()}`,
    'urn:scim:schemas:core:2.0',
    'urn:scim:schemas:core:1.0',
  ];
}

const BOOLEAN_STRING = /^(true|false)$/i;

/**
 * Coerces one attribute value to its catalogue type. Returns undefined for "unassigned"
 * (null, empty arrays, empty complex values: RFC 7643 §2.5). Throws 400 invalidValue on a wrong type.
 */
export function coerceAttribute(def: AttributeDef, value: unknown, label: string): unknown {
  if (value === null || value === undefined) return undefined;
  if (def.multiValued) {
    // Entra sometimes sends a single object where an array is expected: accept both. A bare
    // scalar for a complex attribute (`emails: "a@b"`) is a wrong type, not a one-item list.
    if (def.type === 'complex' && !Array.isArray(value) && !isPlainObject(value)) {
      throw invalidValue(`${label}: must be an array of objects`);
    }
    const items = Array.isArray(value) ? value : [value];
    if (items.length > LIMITS.maxItems) throw invalidValue(`${label}: more than ${LIMITS.maxItems} values`);
    const out: unknown[] = [];
    items.forEach((item, i) => {
      const c = coerceSingle(def, item, `${label}[${i}]`);
      if (c !== undefined) out.push(c);
    });
    return out.length > 0 ? out : undefined;
  }
  if (Array.isArray(value)) throw invalidValue(`${label}: must be a single value, not an array`);
  return coerceSingle(def, value, label);
}

function coerceSingle(def: AttributeDef, value: unknown, label: string): unknown {
  if (value === null || value === undefined) return undefined;
  switch (def.type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      // Entra without aadOptscim062020 sends "False" / "True" strings.
      if (typeof value === 'string' && BOOLEAN_STRING.test(value)) return value.toLowerCase() === 'true';
      throw invalidValue(`${label}: must be a boolean`);
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw invalidValue(`${label}: must be an integer`);
    case 'decimal':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      throw invalidValue(`${label}: must be a number`);
    case 'complex':
      return coerceComplex(def, value, label);
    default:
      if (typeof value === 'string') return value;
      throw invalidValue(`${label}: must be a string`);
  }
}

function coerceComplex(def: AttributeDef, value: unknown, label: string): JsonObject | undefined {
  const subs = def.subAttributes ?? [];
  const hasValue = subs.some((s) => s.name === 'value');
  let input = value;
  if (typeof input === 'string' && hasValue) {
    // Entra sends `manager` as a bare id; `roles: ["admin"]` reads the same way. An empty id is
    // how clients clear a reference, so it means unassigned.
    if (input === '') return undefined;
    input = { value: input };
  }
  if (!isPlainObject(input)) throw invalidValue(`${label}: must be an object`);
  const out: JsonObject = {};
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(input)) {
    const sub = findAttributeDef(subs, k);
    const name = sub?.name ?? k;
    const seenKey = sub ? `c:${sub.name}` : `x:${k}`;
    if (seen.has(seenKey)) throw invalidValue(`${label}.${name}: given more than once`);
    seen.add(seenKey);
    if (v === null || v === undefined) continue;
    // Unknown sub-attributes are kept verbatim, like unknown attributes.
    const c = sub ? coerceAttribute(sub, v, `${label}.${name}`) : cloneJson(v);
    if (c !== undefined) setOwn(out, name, c);
  }
  if (Object.keys(out).length === 0) return undefined;
  // A single-valued reference (manager) with an empty id is unassigned, not a dangling reference.
  if (hasValue && !def.multiValued && getOwn(out, 'value') === '') return undefined;
  return out;
}

/**
 * Reads a Group `members` value: an array or (Entra) a single object; items carry `value`
 * (required), `type` (Okta omits it), `display`; `$ref` is ours to derive. Bare strings are read
 * as ids. Duplicates (JumpCloud repeats adds) collapse to one entry per id, last details winning.
 */
export function toMemberRefs(value: unknown, label = 'members'): MemberRef[] {
  if (value === null || value === undefined) return [];
  const items = Array.isArray(value) ? value : [value];
  if (items.length > LIMITS.maxMembers) throw invalidValue(`${label}: more than ${LIMITS.maxMembers} values`);
  const byId = new Map<string, MemberRef>();
  items.forEach((item, i) => {
    const at = `${label}[${i}]`;
    if (item === null || item === undefined) return;
    const obj: unknown = typeof item === 'string' ? { value: item } : item;
    if (!isPlainObject(obj)) throw invalidValue(`${at}: must be an object with a value`);
    let id: unknown;
    let type: unknown;
    let display: unknown;
    for (const [k, v] of Object.entries(obj)) {
      const lk = k.toLowerCase();
      if (lk === 'value') id = v;
      else if (lk === 'type') type = v;
      else if (lk === 'display') display = v;
      // $ref and anything else: derived by us on output / not part of a membership.
    }
    if (typeof id !== 'string') throw invalidValue(`${at}.value: required string`);
    const ref: JsonObject = { value: id };
    if (type !== undefined && type !== null) {
      if (typeof type !== 'string') throw invalidValue(`${at}.type: must be "User" or "Group"`);
      const canonical = type.toLowerCase() === 'user' ? 'User' : type.toLowerCase() === 'group' ? 'Group' : undefined;
      if (!canonical) throw invalidValue(`${at}.type: must be "User" or "Group"`);
      ref.type = canonical;
    }
    if (display !== undefined && display !== null) ref.display = display;
    const parsed = MemberRefSchema.safeParse(ref);
    if (!parsed.success) throw fromZodError(parsed.error, at);
    byId.delete(parsed.data.value);
    byId.set(parsed.data.value, parsed.data);
  });
  return [...byId.values()];
}

function fromZodError(error: z.ZodError, label: string): ScimError {
  const issue = error.issues[0];
  if (!issue) return invalidValue(`${label}: invalid`);
  const path = issue.path.map(String).join('.');
  const where = [label, path].filter(Boolean).join('.');
  const missing = issue.code === 'invalid_type' && issue.received === 'undefined';
  return invalidValue(`${where || 'value'}: ${missing ? 'is required' : issue.message}`);
}

/** Validates a normalised object with a zod schema, mapping failures to 400 invalidValue. */
export function validateWith<T extends z.ZodTypeAny>(schema: T, value: unknown): z.infer<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fromZodError(parsed.error, '');
  return parsed.data as z.infer<T>;
}

// ---------------------------------------------------------------------------------------------
// The normaliser.

interface NormalizeState {
  readonly rt: ResourceTypeDef;
  readonly out: JsonObject;
  /** canonical target → coerced value, to reject the same attribute given twice with different values */
  readonly assigned: Map<string, unknown>;
  members?: MemberRef[];
}

function normalizeResource(rt: ResourceTypeDef, body: unknown): NormalizeState {
  if (!isPlainObject(body)) {
    throw ScimError.badRequest('invalidSyntax', `${rt.name} body must be a JSON object`);
  }
  assertSafeJson(body, '');
  const state: NormalizeState = { rt, out: {}, assigned: new Map() };
  for (const [key, value] of Object.entries(body)) assignTopLevel(state, key, value);
  // Extension objects whose values were all null end up empty: unassigned.
  for (const ext of rt.extensions) {
    const obj = getOwn(state.out, ext.id);
    if (isPlainObject(obj) && Object.keys(obj).length === 0) deleteOwn(state.out, ext.id);
  }
  return state;
}

function remember(state: NormalizeState, target: string, value: unknown, label: string): void {
  const key = target.toLowerCase();
  if (state.assigned.has(key) && !deepEqual(state.assigned.get(key), value)) {
    throw invalidValue(`${label}: given more than once with different values`);
  }
  state.assigned.set(key, value);
}

function assignTopLevel(state: NormalizeState, key: string, value: unknown): void {
  const { rt } = state;
  const lower = key.toLowerCase();
  // `schemas` is ours to emit; never reject it: Google mixes urn:scim:schemas:core:1.0 with 2.0.
  if (lower === 'schemas') return;
  if (coreUrnAliases(rt).includes(lower)) {
    // Some clients nest core attributes under the core URN, like an extension.
    if (value === null) return;
    if (!isPlainObject(value)) throw invalidValue(`${key}: must be an object`);
    for (const [k, v] of Object.entries(value)) assignTopLevel(state, k, v);
    return;
  }
  const { extension, rest } = splitUrn(rt, key);
  if (extension !== null) {
    const attrs = rt.extensions.find((e) => e.id === extension)?.attributes ?? [];
    if (rest === '') {
      if (value === null) return;
      if (!isPlainObject(value)) throw invalidValue(`${extension}: must be an object`);
      for (const [k, v] of Object.entries(value)) {
        // An extension serialised as a resource of its own carries `schemas`: ours to emit, as
        // at the top level (patch.ts ignores it the same way).
        if (k.toLowerCase() === 'schemas') continue;
        assignAttribute(state, extension, attrs, k, v);
      }
      return;
    }
    // "urn:…:enterprise:2.0:User:employeeNumber": folded into the extension object.
    assignAttribute(state, extension, attrs, rest, value);
    return;
  }
  if (rest === key && lower.startsWith('urn:')) {
    // An extension we do not know: kept verbatim under its own key.
    if (value === null) return;
    remember(state, `x|${key}`, value, key);
    setOwn(state.out, key, cloneJson(value));
    return;
  }
  // Bare core name, or core-URN-prefixed key stripped to the bare name.
  assignAttribute(state, null, coreAttributes(rt), rest, value);
}

function containerFor(state: NormalizeState, scope: string | null): JsonObject {
  if (scope === null) return state.out;
  const existing = getOwn(state.out, scope);
  if (isPlainObject(existing)) return existing;
  const created: JsonObject = {};
  setOwn(state.out, scope, created);
  return created;
}

function assignAttribute(
  state: NormalizeState,
  scope: string | null,
  attrs: readonly AttributeDef[],
  name: string,
  value: unknown,
): void {
  const parts = name.split('.');
  const head = parts[0] ?? '';
  const def = findAttributeDef(attrs, head);
  const label = scope ? `${scope}:${name}` : name;
  if (!def) {
    // Unknown attributes are kept verbatim under their own key.
    if (value === null) return;
    remember(state, `${scope ?? ''}|x|${name}`, value, label);
    setOwn(containerFor(state, scope), name, cloneJson(value));
    return;
  }
  if (scope === null) {
    // RFC 7644 §3.5.1: read-only values in a PUT are ignored (Okta echoes id, meta, groups: [];
    // `groups: []` must not wipe memberships). `password` is write-only and we keep no passwords:
    // Okta sends a placeholder even with password sync off.
    if (def.mutability === 'readOnly' || def.mutability === 'writeOnly') return;
    if (state.rt.name === 'Group' && def.name === 'members') {
      const refs = toMemberRefs(value);
      remember(state, 'members', refs, 'members');
      state.members = refs;
      return;
    }
  }
  if (parts.length > 2) throw invalidValue(`${label}: unknown attribute`);
  const sub = parts[1];
  if (sub === undefined) {
    const coerced = coerceAttribute(def, value, label);
    remember(state, `${scope ?? ''}|${def.name}`, coerced, label);
    const container = containerFor(state, scope);
    if (coerced === undefined) return;
    const existing = getOwn(container, def.name);
    if (isPlainObject(existing) && isPlainObject(coerced)) {
      // "name.givenName" given before "name": merge rather than drop either.
      for (const [k, v] of Object.entries(coerced)) setOwn(existing, k, v);
    } else {
      setOwn(container, def.name, coerced);
    }
    return;
  }
  // Dotted key ("name.givenName"): only for single-valued complex attributes.
  if (def.type !== 'complex' || def.multiValued) throw invalidValue(`${label}: unknown attribute`);
  const subDef = findAttributeDef(def.subAttributes, sub);
  const subName = subDef?.name ?? sub;
  const coerced = subDef ? coerceAttribute(subDef, value, label) : value === null ? undefined : cloneJson(value);
  remember(state, `${scope ?? ''}|${def.name}.${subName}`, coerced, label);
  if (coerced === undefined) return;
  const container = containerFor(state, scope);
  let obj = getOwn(container, def.name);
  if (!isPlainObject(obj)) {
    obj = {};
    setOwn(container, def.name, obj);
  }
  setOwn(obj as JsonObject, subName, coerced);
}

/**
 * Normalises and validates a User body (POST / PUT). Throws ScimError 400: invalidSyntax when the
 * body is not an object, invalidValue for wrong types, missing userName, control characters,
 * limits and prototype-reaching keys.
 */
export function normalizeUserInput(body: unknown): ScimUser {
  return normalizeUserReplacement(body).user;
}

/**
 * A PUT body (RFC 7644 §3.5.1), and whether it carried `active` at all. The RFC lets a replace
 * that leaves an attribute out either reset or keep it; for `active` resetting to the default
 * (true) would reactivate a suspended user by accident, so the caller keeps the current value.
 */
export function normalizeUserReplacement(body: unknown): { user: ScimUser; activeGiven: boolean } {
  const { out } = normalizeResource(resourceTypes.User, body);
  const activeGiven = (out as Record<string, unknown>).active !== undefined;
  return { user: validateWith(ScimUserSchema, out), activeGiven };
}

/**
 * Normalises and validates a Group body (POST / PUT). `members` is returned separately (present
 * only when the body had it; null reads as no members) and never stored on the group object.
 */
export function normalizeGroupInput(body: unknown): { group: ScimGroup; members?: MemberRef[] } {
  const state = normalizeResource(resourceTypes.Group, body);
  const group = validateWith(ScimGroupSchema, state.out);
  return state.members ? { group, members: state.members } : { group };
}
