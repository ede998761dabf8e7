import { z } from 'zod';
import { ScimError } from '../errors.js';
import { type AttrPath, type CompareOp, type CompareValue, type FilterNode, formatAttrPath, parseAttrPath } from './filter.js';
import { URN, resourceTypes, splitUrn, type AttributeDef, type ResourceTypeDef } from './schema.js';
import {
  MemberRefSchema,
  assertSafeJson,
  cloneJson,
  coerceAttribute,
  coreAttributes,
  coreUrnAliases,
  deepEqual,
  deleteOwn,
  findAttributeDef,
  getOwn,
  isForbiddenName,
  isPlainObject,
  normalizeGroupInput,
  normalizeUserInput,
  setOwn,
  toMemberRefs,
  type JsonObject,
  type MemberRef,
  type ScimGroup,
  type ScimUser,
} from './resource.js';

/**
 * A pure SCIM PATCH engine (RFC 7644 §3.5.2). Written here because `scim-patch` 0.8.3, the newest
 * version served to us, lets paths reach Object.prototype and overwrite id/meta (docs/scim.md).
 *
 * Ops apply in order to a deep copy; any failure throws before anything is returned (atomic). The
 * result is re-validated with the same rules as POST/PUT bodies. Every quirk accepted below is one
 * a real IdP sends (docs/scim.md): Entra's capitalised ops and "False" strings, no-path replaces
 * with dotted and URN keys, Replace on a missing work email; Okta's member filters; JumpCloud's
 * repeated adds.
 */

// ---------------------------------------------------------------------------------------------
// Types

export const PatchOpNameSchema = z.enum(['add', 'replace', 'remove']);
export type PatchOpName = z.infer<typeof PatchOpNameSchema>;

/**
 * A value filter inside `[...]`, as core/scim/filter.ts parses it (the one SCIM filter parser):
 * evaluated here over one element of a multi-valued attribute.
 */
export type FilterExpr = FilterNode;

/**
 * A syntactically valid PATCH path. Resolution against the catalogue happens at apply time,
 * because the same parsed request may target a User or a Group.
 */
export interface ParsedPath {
  readonly raw: string;
  /** Attribute path before any value filter, possibly URN-prefixed or dotted ("name.givenName"). */
  readonly attrPath: string;
  readonly filter?: FilterExpr;
  /** Sub-attribute after a value filter: `emails[type eq "work"].value` → "value". */
  readonly sub?: string;
}

export interface PatchOperation {
  readonly op: PatchOpName;
  readonly path?: ParsedPath;
  readonly value?: unknown;
}

/**
 * Membership changes from a Group PATCH (members are not loaded). Apply in this order:
 * `removeAll` → delete every member; `replaceAll` → set the members to exactly this list;
 * then delete `remove`; then insert `add`. The fold keeps at most one of removeAll / replaceAll,
 * and folds later adds/removes into replaceAll when it is set, so add/remove are then empty.
 */
export const MemberChangeSchema = z.object({
  replaceAll: z.array(MemberRefSchema).optional(),
  add: z.array(MemberRefSchema),
  remove: z.array(z.string()),
  removeAll: z.boolean().optional(),
});
export type MemberChange = z.infer<typeof MemberChangeSchema>;

const invalidPath = (detail: string) => ScimError.badRequest('invalidPath', detail);
const invalidValue = (detail: string) => ScimError.badRequest('invalidValue', detail);
const invalidSyntax = (detail: string) => ScimError.badRequest('invalidSyntax', detail);
const mutability = (detail: string) => ScimError.badRequest('mutability', detail);

/** Longest path we parse. Bounds parser work and the depth of and/or chains in the filter AST. */
const MAX_PATH_LENGTH = 8192;
/** Parenthesis nesting in a value filter (scim2-parse-filter overflowed the stack at ~4,500). */
const MAX_FILTER_DEPTH = 32;

// ---------------------------------------------------------------------------------------------
// Path parsing: core/scim/filter.ts's parser (`parseAttrPath`), with PATCH's scimType

function assertSafeSegments(text: string, raw: string): void {
  for (const segment of text.split(/[:.]/)) {
    if (isForbiddenName(segment)) throw invalidPath(`${raw}: "${segment}" is not an attribute`);
  }
}

/** Attribute names a value filter reads: none may reach Object.prototype. */
function assertSafeFilter(node: FilterNode, raw: string): void {
  const stack = [node];
  while (stack.length) {
    const n = stack.pop()!;
    switch (n.kind) {
      case 'and':
      case 'or':
        stack.push(n.left, n.right);
        break;
      case 'not':
        stack.push(n.filter);
        break;
      case 'valuePath':
        assertSafeSegments(formatAttrPath(n.attr), raw);
        stack.push(n.filter);
        break;
      default:
        // Inside brackets an attribute names a sub-attribute of the element: no schema URN.
        if (n.path.uri !== undefined) throw invalidPath(`${raw}: a value filter names sub-attributes, not schema URNs`);
        assertSafeSegments(formatAttrPath(n.path), raw);
    }
  }
}

/** Parses a PATCH path (RFC 7644 §3.5.2 `PATH`). Malformed → 400 invalidPath. */
export function parsePath(input: string): ParsedPath {
  const raw = input.trim();
  if (raw.length === 0) throw invalidPath('path: empty');
  if (raw.length > MAX_PATH_LENGTH) throw invalidPath(`path: longer than ${MAX_PATH_LENGTH} characters`);
  let path: AttrPath;
  try {
    // The value filter's brackets count as one level of the parser's depth.
    path = parseAttrPath(raw, { maxLength: MAX_PATH_LENGTH, maxDepth: MAX_FILTER_DEPTH + 1 });
  } catch (err) {
    if (err instanceof ScimError) throw invalidPath(`${raw}: ${err.detail}`);
    throw err;
  }
  const prefix = path.uri !== undefined ? `${path.uri}:${path.attr}` : path.attr;
  if (!path.valueFilter) {
    const attrPath = path.sub !== undefined ? `${prefix}.${path.sub}` : prefix;
    assertSafeSegments(attrPath, raw);
    return { raw, attrPath };
  }
  assertSafeSegments(prefix, raw);
  assertSafeFilter(path.valueFilter, raw);
  if (path.sub === undefined) return { raw, attrPath: prefix, filter: path.valueFilter };
  assertSafeSegments(path.sub, raw);
  return { raw, attrPath: prefix, filter: path.valueFilter, sub: path.sub };
}

// ---------------------------------------------------------------------------------------------
// Request envelope

/**
 * Parses a PATCH body (RFC 7644 §3.5.2). Lenient where IdPs differ: `Operations` key in any case,
 * `schemas` may be missing (if present it must name the PatchOp URN), op names in any case
 * (Entra sends "Replace"), member names of each op (`op`, `path`, `value`) in any case.
 */
export function parsePatchRequest(body: unknown, limits: { maxOperations: number }): PatchOperation[] {
  if (!isPlainObject(body)) throw invalidSyntax('PATCH body must be a JSON object');
  let schemas: unknown;
  let operations: unknown;
  let sawOperations = false;
  for (const [key, value] of Object.entries(body)) {
    const lower = key.toLowerCase();
    if (lower === 'schemas') schemas = value;
    else if (lower === 'operations') {
      if (sawOperations) throw invalidSyntax('Operations: given more than once');
      sawOperations = true;
      operations = value;
    }
  }
  if (schemas !== undefined && schemas !== null) {
    const list = Array.isArray(schemas) ? schemas : [schemas];
    const patchOp = URN.patchOp.toLowerCase();
    if (!list.some((s) => typeof s === 'string' && s.toLowerCase() === patchOp)) {
      throw invalidSyntax(`schemas: must contain ${URN.patchOp}`);
    }
  }
  if (!Array.isArray(operations)) throw invalidSyntax('Operations: must be an array');
  if (operations.length === 0) throw invalidSyntax('Operations: must contain at least one operation');
  // 'invalidValue', not 'tooMany': RFC 7644 §3.12 defines tooMany for filters that would return
  // too many results; an oversized PATCH is a request value we refuse.
  if (operations.length > limits.maxOperations) {
    throw invalidValue(`Operations: more than ${limits.maxOperations} operations`);
  }
  return operations.map((raw, i) => parseOperation(raw, i));
}

function parseOperation(raw: unknown, index: number): PatchOperation {
  const at = `Operations[${index}]`;
  if (!isPlainObject(raw)) throw invalidSyntax(`${at}: must be an object`);
  let op: unknown;
  let path: unknown;
  let value: unknown;
  let hasValue = false;
  for (const [key, v] of Object.entries(raw)) {
    const lower = key.toLowerCase();
    if (lower === 'op') op = v;
    else if (lower === 'path') path = v;
    else if (lower === 'value') {
      value = v;
      hasValue = true;
    }
  }
  if (typeof op !== 'string') throw invalidSyntax(`${at}.op: required`);
  const name = PatchOpNameSchema.safeParse(op.trim().toLowerCase());
  if (!name.success) throw invalidSyntax(`${at}.op: "${op}" is not add, replace or remove`);
  let parsedPath: ParsedPath | undefined;
  if (typeof path === 'string') {
    // An empty path is how some clients spell "no path".
    if (path.trim() !== '') parsedPath = parsePath(path);
  } else if (path !== undefined && path !== null) {
    throw invalidPath(`${at}.path: must be a string`);
  }
  if (name.data !== 'remove' && !hasValue) throw invalidSyntax(`${at}.value: required for ${name.data}`);
  if (hasValue) assertSafeJson(value, `${at}.value`);
  return {
    op: name.data,
    ...(parsedPath ? { path: parsedPath } : {}),
    ...(hasValue ? { value } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Filter evaluation over one element of a multi-valued attribute

function ownKeyCi(o: JsonObject, name: string): string | undefined {
  if (Object.hasOwn(o, name)) return name;
  const lower = name.toLowerCase();
  return Object.keys(o).find((k) => k.toLowerCase() === lower);
}

function lookup(element: unknown, attr: string): unknown {
  // Multi-valued primitives (extension data): "value" is the element itself (RFC 7644 §3.5.2).
  if (!isPlainObject(element)) return attr.toLowerCase() === 'value' ? element : undefined;
  let current: unknown = element;
  for (const part of attr.split('.')) {
    if (!isPlainObject(current)) return undefined;
    const key = ownKeyCi(current, part);
    current = key === undefined ? undefined : current[key];
  }
  return current;
}

function isPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (Array.isArray(v)) return v.some(isPresent);
  if (isPlainObject(v)) return Object.values(v).some(isPresent);
  return true;
}

function compare(op: CompareOp, actual: unknown, literal: CompareValue, caseExact: boolean): boolean {
  if (Array.isArray(actual)) return actual.some((a) => compare(op, a, literal, caseExact));
  if (actual === undefined || actual === null) {
    if (op === 'eq') return literal === null;
    if (op === 'ne') return literal !== null;
    return false;
  }
  if (typeof actual === 'string' && typeof literal === 'string') {
    const a = caseExact ? actual : actual.toLowerCase();
    const b = caseExact ? literal : literal.toLowerCase();
    switch (op) {
      case 'eq': return a === b;
      case 'ne': return a !== b;
      case 'co': return a.includes(b);
      case 'sw': return a.startsWith(b);
      case 'ew': return a.endsWith(b);
      case 'gt': return a > b;
      case 'ge': return a >= b;
      case 'lt': return a < b;
      case 'le': return a <= b;
    }
  }
  if (typeof actual === 'boolean') {
    const b = typeof literal === 'string' && /^(true|false)$/i.test(literal) ? literal.toLowerCase() === 'true' : literal;
    if (op === 'eq') return actual === b;
    if (op === 'ne') return actual !== b;
    return false;
  }
  if (typeof actual === 'number' && typeof literal === 'number') {
    switch (op) {
      case 'eq': return actual === literal;
      case 'ne': return actual !== literal;
      case 'gt': return actual > literal;
      case 'ge': return actual >= literal;
      case 'lt': return actual < literal;
      case 'le': return actual <= literal;
      default: return false;
    }
  }
  return op === 'ne';
}

/** The attribute a comparison inside a value filter reads from the element (`type`, `name.givenName`). */
const elementAttr = (path: AttrPath): string => (path.sub !== undefined ? `${path.attr}.${path.sub}` : path.attr);

function matches(f: FilterExpr, element: unknown, def: AttributeDef | undefined): boolean {
  switch (f.kind) {
    case 'and': return matches(f.left, element, def) && matches(f.right, element, def);
    case 'or': return matches(f.left, element, def) || matches(f.right, element, def);
    case 'not': return !matches(f.filter, element, def);
    case 'present': return isPresent(lookup(element, elementAttr(f.path)));
    case 'compare': {
      // String compares follow the sub-attribute's caseExact (RFC 7644 §3.4.2.2).
      const caseExact = findAttributeDef(def?.subAttributes, f.path.attr)?.caseExact ?? false;
      return compare(f.op, lookup(element, elementAttr(f.path)), f.value, caseExact);
    }
    // A value filter inside a value filter does not parse (RFC 7644 §3.4.2.2 ABNF).
    case 'valuePath': return false;
  }
}

/**
 * The element a filter describes, from its eq-conditions joined by `and`
 * (`type eq "work"` → { type: "work" }); undefined when the filter does not pin one down.
 */
function elementFromFilter(f: FilterExpr, def: AttributeDef | undefined): JsonObject | undefined {
  if (f.kind === 'compare') {
    if (f.op !== 'eq' || f.value === null || f.path.sub !== undefined || f.path.uri !== undefined) return undefined;
    const out: JsonObject = {};
    setOwn(out, findAttributeDef(def?.subAttributes, f.path.attr)?.name ?? f.path.attr, f.value);
    return out;
  }
  if (f.kind !== 'and') return undefined;
  const left = elementFromFilter(f.left, def);
  const right = elementFromFilter(f.right, def);
  if (!left || !right) return undefined;
  for (const [k, v] of Object.entries(right)) {
    if (Object.hasOwn(left, k) && !deepEqual(left[k], v)) return undefined;
    setOwn(left, k, v);
  }
  return left;
}

/** Matches every element: `emails.value` (no filter) addresses all emails. */
const MATCH_ALL: FilterExpr = { kind: 'present', path: { attr: '$all' } };
const matchesOrAll = (f: FilterExpr, el: unknown, def: AttributeDef | undefined) =>
  f === MATCH_ALL || matches(f, el, def);

// ---------------------------------------------------------------------------------------------
// Target resolution

/** Where an attribute lives: the object that holds it (created on demand for add/replace). */
interface Slot {
  readonly container: (create: boolean) => JsonObject | undefined;
  readonly key: string;
  /** Catalogue definition; undefined for attributes of extensions we do not know (kept verbatim). */
  readonly def: AttributeDef | undefined;
  readonly filter?: FilterExpr;
  readonly sub?: { readonly key: string; readonly def: AttributeDef | undefined };
  readonly label: string;
}

type Target =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'members'; readonly filter?: FilterExpr; readonly sub?: string }
  | { readonly kind: 'extension'; readonly urn: string }
  | { readonly kind: 'slot'; readonly slot: Slot };

interface Ctx {
  readonly rt: ResourceTypeDef;
  readonly root: JsonObject;
  readonly members?: MemberFolder;
}

function objectAt(parent: JsonObject, key: string, create: boolean, label: string): JsonObject | undefined {
  const existing = getOwn(parent, key);
  if (isPlainObject(existing)) return existing;
  if (existing !== undefined && existing !== null) throw invalidPath(`${label}: "${key}" is not a complex attribute`);
  if (!create) return undefined;
  const created: JsonObject = {};
  setOwn(parent, key, created);
  return created;
}

function resolveTarget(ctx: Ctx, path: ParsedPath): Target {
  const { rt, root } = ctx;
  // Re-checked here too: operations may be built without parsePatchRequest.
  assertSafeSegments(path.attrPath, path.raw);
  if (path.sub !== undefined) assertSafeSegments(path.sub, path.raw);
  const lower = path.attrPath.toLowerCase();
  if (coreUrnAliases(rt).includes(lower)) throw invalidPath(`${path.raw}: a schema URN is not an attribute`);
  const { extension, rest } = splitUrn(rt, path.attrPath);
  if (extension !== null) {
    if (rest === '') {
      if (path.filter || path.sub !== undefined) throw invalidPath(`${path.raw}: malformed extension path`);
      return { kind: 'extension', urn: extension };
    }
    const attrs = rt.extensions.find((e) => e.id === extension)?.attributes ?? [];
    return attributeTarget(ctx, extension, attrs, rest, path);
  }
  if (rest === path.attrPath && lower.startsWith('urn:')) return extraTarget(root, path);
  return attributeTarget(ctx, null, coreAttributes(rt), rest, path);
}

function attributeTarget(
  ctx: Ctx,
  scope: string | null,
  attrs: readonly AttributeDef[],
  rest: string,
  path: ParsedPath,
): Target {
  const parts = rest.split('.');
  const head = parts[0] ?? '';
  if (parts.length > 2 || parts.some((p) => p === '')) throw invalidPath(`${path.raw}: malformed attribute path`);
  // `schemas` is not in the catalogue (it is ours to emit) but is read-only all the same.
  if (scope === null && head.toLowerCase() === 'schemas') throw mutability(`${path.raw}: schemas is read-only`);
  const def = findAttributeDef(attrs, head);
  if (!def) throw invalidPath(`${path.raw}: unknown attribute`);
  if (scope === null) {
    // Write-only and not stored: we keep no passwords (Okta sends placeholders; password sync
    // is not offered), so there is nothing to change and nothing to report.
    if (def.mutability === 'writeOnly') return { kind: 'ignore' };
    if (def.mutability === 'readOnly') throw mutability(`${path.raw}: ${def.name} is read-only`);
  }
  let subName = parts[1];
  if (subName !== undefined && (path.filter || path.sub !== undefined)) {
    throw invalidPath(`${path.raw}: malformed attribute path`);
  }
  subName ??= path.sub;
  if (scope === null && ctx.members && def.name === 'members') {
    return { kind: 'members', ...(path.filter ? { filter: path.filter } : {}), ...(subName ? { sub: subName } : {}) };
  }
  if (path.filter && !def.multiValued) throw invalidPath(`${path.raw}: value filter on a single-valued attribute`);
  let sub: Slot['sub'];
  if (subName !== undefined) {
    const subDef = def.type === 'complex' ? findAttributeDef(def.subAttributes, subName) : undefined;
    if (!subDef) throw invalidPath(`${path.raw}: unknown sub-attribute`);
    sub = { key: subDef.name, def: subDef };
  }
  const label = scope ? `${scope}:${def.name}` : def.name;
  const container = scope === null ? () => ctx.root : (create: boolean) => objectAt(ctx.root, scope, create, label);
  return {
    kind: 'slot',
    slot: { container, key: def.name, def, label, ...(path.filter ? { filter: path.filter } : {}), ...(sub ? { sub } : {}) },
  };
}

/**
 * A URN we do not know: an extension kept verbatim. If the resource already holds an object under
 * a URN key that prefixes the path ("urn:acme:1.0:User" for "urn:acme:1.0:User:badge.number"), the
 * rest navigates into it; otherwise the whole attribute path is one top-level key, as in POST.
 */
function extraTarget(root: JsonObject, path: ParsedPath): Target {
  const lower = path.attrPath.toLowerCase();
  const urnKeys = Object.keys(root).filter((k) => k.toLowerCase().startsWith('urn:'));
  const exact = urnKeys.find((k) => k.toLowerCase() === lower);
  const sub = path.sub !== undefined ? { key: path.sub, def: undefined } : undefined;
  const common = { def: undefined, label: path.attrPath, ...(path.filter ? { filter: path.filter } : {}), ...(sub ? { sub } : {}) };
  if (exact !== undefined) return { kind: 'slot', slot: { ...common, container: () => root, key: exact } };
  const prefix = urnKeys
    .filter((k) => lower.startsWith(`${k.toLowerCase()}:`) && isPlainObject(root[k]))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix === undefined) return { kind: 'slot', slot: { ...common, container: () => root, key: path.attrPath } };
  const segments = path.attrPath.slice(prefix.length + 1).split('.');
  const key = segments.pop() ?? '';
  if (key === '' || segments.some((s) => s === '')) throw invalidPath(`${path.raw}: malformed attribute path`);
  const container = (create: boolean) => {
    let current: JsonObject | undefined = root;
    for (const seg of [prefix, ...segments]) {
      current = objectAt(current, seg, create, path.raw);
      if (!current) return undefined;
    }
    return current;
  };
  return { kind: 'slot', slot: { ...common, container, key } };
}

// ---------------------------------------------------------------------------------------------
// Applying operations

/** The value as stored: coerced to the catalogue type, or a verbatim copy for unknown extensions. */
function coerce(def: AttributeDef | undefined, value: unknown, label: string): unknown {
  return def ? coerceAttribute(def, value, label) : value === null ? undefined : cloneJson(value);
}

/** One element of a multi-valued attribute, coerced like the attribute's items. */
function coerceElement(def: AttributeDef | undefined, value: unknown, label: string): unknown {
  if (!def) return value === null ? undefined : cloneJson(value);
  const out = coerceAttribute(def, [value], label);
  return Array.isArray(out) ? out[0] : undefined;
}

const isPrimary = (el: unknown) => isPlainObject(el) && el.primary === true;

function applyOperation(ctx: Ctx, op: PatchOperation): void {
  if (op.value !== undefined) assertSafeJson(op.value, 'value');
  if (op.path) return applyAtPath(ctx, op.op, op.path, op.value);
  // RFC 7644 §3.5.2.2: remove needs a path.
  if (op.op === 'remove') throw ScimError.badRequest('noTarget', 'remove requires a path');
  if (!isPlainObject(op.value)) throw invalidValue('value: an operation without path takes an object of attributes');
  // RFC 7644 §3.5.2.1/.3: each key is applied as if it were the path. Keys may be dotted or
  // URN-prefixed (Entra with aadOptscim062020).
  for (const [key, value] of Object.entries(op.value)) {
    const lower = key.toLowerCase();
    // The client echoing the resource (Okta's group rename sends `id`): like read-only values in
    // a PUT (RFC 7644 §3.5.1), they are ignored rather than rejected.
    if (lower === 'id' || lower === 'meta' || lower === 'schemas') continue;
    applyAtPath(ctx, op.op, parsePath(key), value);
  }
}

function applyAtPath(ctx: Ctx, op: PatchOpName, path: ParsedPath, value: unknown): void {
  const target = resolveTarget(ctx, path);
  switch (target.kind) {
    case 'ignore':
      return;
    case 'members':
      if (!ctx.members) throw invalidPath(`${path.raw}: unknown attribute`);
      return applyMembers(ctx.members, op, target, value, path.raw);
    case 'extension':
      return applyExtension(ctx, op, target.urn, value);
    case 'slot':
      return applySlot(op, target.slot, value);
  }
}

function applyExtension(ctx: Ctx, op: PatchOpName, urn: string, value: unknown): void {
  if (op === 'remove') return deleteOwn(ctx.root, urn);
  if (value === null) {
    if (op === 'replace') deleteOwn(ctx.root, urn);
    return;
  }
  if (!isPlainObject(value)) throw invalidValue(`${urn}: must be an object`);
  // A complex value's sub-attributes each replace or add; others stay (RFC 7644 §3.5.2.3).
  for (const [key, v] of Object.entries(value)) {
    // Clients serialise the extension as a resource of its own, with its `schemas` (scim2-client,
    // SCIM SDKs). Like `schemas` at the top of a PUT body, it is ours to emit: ignored.
    if (key.toLowerCase() === 'schemas') continue;
    applyAtPath(ctx, op, parsePath(`${urn}:${key}`), v);
  }
}

function applySlot(op: PatchOpName, slot: Slot, value: unknown): void {
  const container = slot.container(op !== 'remove');
  if (!container) return; // remove of something absent: nothing to do
  const existing = getOwn(container, slot.key);
  const multi = slot.def ? slot.def.multiValued : slot.filter !== undefined || Array.isArray(existing);
  if (multi) return applyMulti(op, container, slot, value);
  if (slot.sub) return applySub(op, container, slot, slot.sub, value);
  applySingle(op, container, slot, value);
}

function applySingle(op: PatchOpName, container: JsonObject, slot: Slot, value: unknown): void {
  const { key, def, label } = slot;
  if (op === 'remove' || value === null) return deleteOwn(container, key);
  const existing = getOwn(container, key);
  const complex = def ? def.type === 'complex' : op === 'add' && isPlainObject(existing) && isPlainObject(value);
  if (!complex) {
    const coerced = coerce(def, value, label);
    if (coerced === undefined) deleteOwn(container, key);
    else setOwn(container, key, coerced);
    return;
  }
  // Complex single-valued: add and replace both merge sub-attributes; ones not given stay
  // (RFC 7644 §3.5.2.1, §3.5.2.3). A null sub-attribute unassigns it (RFC 7643 §2.5).
  let input: unknown = value;
  if (def && typeof input === 'string') {
    const hasValueSub = def.subAttributes?.some((s) => s.name === 'value') ?? false;
    if (!hasValueSub) throw invalidValue(`${label}: must be an object`);
    if (input === '') return deleteOwn(container, key); // manager "" clears it (resource.ts)
    input = { value: input }; // Entra's bare-string manager
  }
  if (!isPlainObject(input)) throw invalidValue(`${label}: must be an object`);
  const target = isPlainObject(existing) ? existing : {};
  for (const [k, v] of Object.entries(input)) {
    const subDef = def ? findAttributeDef(def.subAttributes, k) : undefined;
    const name = subDef?.name ?? (def ? ownKeyCi(target, k) ?? k : k);
    const coerced = v === null ? undefined : coerce(subDef, v, `${label}.${name}`);
    if (coerced === undefined) deleteOwn(target, name);
    else setOwn(target, name, coerced);
  }
  if (Object.keys(target).length === 0) deleteOwn(container, key);
  else setOwn(container, key, target);
}

function applySub(op: PatchOpName, container: JsonObject, slot: Slot, sub: NonNullable<Slot['sub']>, value: unknown): void {
  const label = `${slot.label}.${sub.key}`;
  const existing = getOwn(container, slot.key);
  if (existing !== undefined && existing !== null && !isPlainObject(existing)) {
    throw invalidPath(`${label}: ${slot.key} is not a complex attribute`);
  }
  const obj: JsonObject = isPlainObject(existing) ? existing : {};
  if (op === 'remove' || value === null) deleteOwn(obj, sub.key);
  else {
    const coerced = coerce(sub.def, value, label);
    if (coerced === undefined) deleteOwn(obj, sub.key);
    else setOwn(obj, sub.key, coerced);
  }
  if (Object.keys(obj).length === 0) deleteOwn(container, slot.key);
  else setOwn(container, slot.key, obj);
}

function applyMulti(op: PatchOpName, container: JsonObject, slot: Slot, value: unknown): void {
  const { key, def, label } = slot;
  const existing = getOwn(container, key);
  let items: unknown[] = Array.isArray(existing) ? [...existing] : existing === undefined || existing === null ? [] : [existing];
  const primaryBefore = new Set(items.filter(isPrimary));
  const filter = slot.filter ?? (slot.sub ? MATCH_ALL : undefined);

  if (!filter) {
    // Same rule as POST/PUT (coerceAttribute): one object may stand for a list, a scalar may not.
    if (def?.type === 'complex' && value !== undefined && value !== null && !Array.isArray(value) && !isPlainObject(value)) {
      throw invalidValue(`${label}: must be an array of objects`);
    }
    if (op === 'replace') {
      // RFC 7644 §3.5.2.3: no filter → the attribute and all values are replaced.
      const coerced = coerce(def, Array.isArray(value) || value === null ? value : [value], label);
      items = Array.isArray(coerced) ? coerced : coerced === undefined ? [] : [coerced];
    } else if (op === 'add') {
      // RFC 7644 §3.5.2.1: values already present are a no-op (JumpCloud repeats adds).
      const coerced = coerce(def, Array.isArray(value) ? value : [value], label);
      const added = Array.isArray(coerced) ? coerced : coerced === undefined ? [] : [coerced];
      for (const item of added) {
        if (item !== null && !items.some((e) => deepEqual(e, item))) items.push(item);
      }
    } else if (value === undefined || value === null) {
      items = [];
    } else {
      // Remove with a value list (as Entra does for members): remove only the listed values,
      // matched on `value` when given, else on the whole element. Never clears the attribute.
      const coerced = coerce(def, Array.isArray(value) ? value : [value], label);
      const listed = Array.isArray(coerced) ? coerced : [];
      const caseExact = findAttributeDef(def?.subAttributes, 'value')?.caseExact ?? false;
      items = items.filter((e) => !listed.some((l) => {
        const lv = isPlainObject(l) ? getOwn(l, 'value') : l;
        return typeof lv === 'string' ? compare('eq', lookup(e, 'value'), lv, caseExact) : deepEqual(e, l);
      }));
    }
  } else {
    const matched = new Set(items.filter((e) => matchesOrAll(filter, e, def)));
    const sub = slot.sub;
    // A null value unassigns (RFC 7643 §2.5): same as removing the target.
    if (op === 'remove' || value === null) {
      if (!sub) {
        // Removing matching values; matching none is a no-op success, not noTarget: IdPs replay
        // removals (Okta after a failed push) and the outcome they want already holds.
        items = items.filter((e) => !matched.has(e));
      } else {
        items = items.flatMap((e) => {
          if (!matched.has(e) || !isPlainObject(e)) return [e];
          const copy = cloneJson(e);
          deleteOwn(copy, sub.key);
          // An element without its `value` (RFC 7643 §2.4) or without anything is gone.
          const emptied = Object.keys(copy).length === 0 || (sub.key === 'value' && def !== undefined);
          return emptied ? [] : [copy];
        });
      }
    } else if (matched.size === 0) {
      // No element matches. The RFC answers noTarget for replace, but Entra expects
      // `Replace emails[type eq "work"].value` to add the work email: build the element from the
      // filter's eq-conditions plus the value.
      const base = filter === MATCH_ALL ? {} : elementFromFilter(filter, def);
      if (!base) throw ScimError.badRequest('noTarget', `${label}: no value matches the filter`);
      if (sub) setOwn(base, sub.key, value);
      else if (isPlainObject(value)) for (const [k, v] of Object.entries(value)) setOwn(base, ownKeyCi(base, k) ?? k, v);
      else setOwn(base, 'value', value);
      const element = coerceElement(def, base, label);
      if (element !== undefined && !items.some((e) => deepEqual(e, element))) items.push(element);
    } else {
      items = items.flatMap((e) => {
        if (!matched.has(e)) return [e];
        if (sub) {
          if (!isPlainObject(e)) throw invalidPath(`${label}: values have no sub-attributes`);
          const copy = cloneJson(e);
          setOwn(copy, sub.key, value);
          const element = coerceElement(def, copy, label);
          return element === undefined ? [] : [element];
        }
        // replace: the matching values become the given value (RFC 7644 §3.5.2.3);
        // add: the given sub-attributes merge into them.
        let next: unknown = value;
        if (op === 'add' && isPlainObject(e) && isPlainObject(value)) {
          const merged = cloneJson(e);
          for (const [k, v] of Object.entries(value)) setOwn(merged, ownKeyCi(merged, k) ?? k, v);
          next = merged;
        }
        const element = coerceElement(def, next, label);
        return element === undefined ? [] : [element];
      });
    }
  }

  // RFC 7643 §2.4: a value newly marked primary takes primary away from the others.
  const newlyPrimary = items.filter((e) => isPrimary(e) && !primaryBefore.has(e));
  if (newlyPrimary.length > 0) {
    items = items.map((e) => {
      if (!isPrimary(e) || newlyPrimary.includes(e)) return e;
      const copy = cloneJson(e) as JsonObject;
      setOwn(copy, 'primary', false);
      return copy;
    });
  }
  if (items.length === 0) deleteOwn(container, key);
  else setOwn(container, key, items);
}

// ---------------------------------------------------------------------------------------------
// Group membership folding

/** Folds member operations, in order, into one MemberChange (see MemberChangeSchema). */
class MemberFolder {
  private replaceAll: Map<string, MemberRef> | undefined;
  private readonly add = new Map<string, MemberRef>();
  private readonly remove = new Set<string>();
  private removeAll = false;

  addRefs(refs: readonly MemberRef[]): void {
    for (const ref of refs) {
      if (this.replaceAll) {
        this.replaceAll.set(ref.value, ref);
      } else {
        this.remove.delete(ref.value);
        this.add.set(ref.value, ref);
      }
    }
  }

  removeIds(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.replaceAll) {
        this.replaceAll.delete(id);
      } else {
        this.add.delete(id);
        if (!this.removeAll) this.remove.add(id);
      }
    }
  }

  clear(): void {
    this.replaceAll = undefined;
    this.add.clear();
    this.remove.clear();
    this.removeAll = true;
  }

  setAll(refs: readonly MemberRef[]): void {
    this.replaceAll = new Map(refs.map((r) => [r.value, r]));
    this.add.clear();
    this.remove.clear();
    this.removeAll = false;
  }

  result(): MemberChange {
    return {
      ...(this.replaceAll ? { replaceAll: [...this.replaceAll.values()] } : {}),
      add: [...this.add.values()],
      remove: [...this.remove],
      ...(this.removeAll ? { removeAll: true } : {}),
    };
  }
}

/** Member ids named by `value eq "…"` filters, alone or joined with `or` (Okta); else undefined. */
function memberIdsFromFilter(f: FilterExpr): string[] | undefined {
  if (f.kind === 'compare') {
    const valueAttr = f.path.uri === undefined && f.path.sub === undefined && f.path.attr.toLowerCase() === 'value';
    return f.op === 'eq' && valueAttr && typeof f.value === 'string' ? [f.value] : undefined;
  }
  if (f.kind !== 'or') return undefined;
  const left = memberIdsFromFilter(f.left);
  const right = memberIdsFromFilter(f.right);
  return left && right ? [...left, ...right] : undefined;
}

function applyMembers(
  folder: MemberFolder,
  op: PatchOpName,
  target: { readonly filter?: FilterExpr; readonly sub?: string },
  value: unknown,
  raw: string,
): void {
  // Member sub-attributes are immutable (RFC 7643 §4.2): a membership is added or removed whole.
  if (target.sub !== undefined) throw invalidPath(`${raw}: member sub-attributes cannot be changed`);
  if (target.filter) {
    if (op !== 'remove') throw invalidPath(`${raw}: a members filter is only valid in remove`);
    // Members are not loaded, so only filters naming ids can be translated.
    const ids = memberIdsFromFilter(target.filter);
    if (!ids) throw invalidPath(`${raw}: members can only be filtered by value eq "<id>"`);
    return folder.removeIds(ids);
  }
  switch (op) {
    case 'add':
      return folder.addRefs(toMemberRefs(value));
    case 'replace':
      // "Push now" from Okta replaces with the full list, even [].
      return folder.setAll(toMemberRefs(value));
    case 'remove':
      if (value === undefined || value === null) return folder.clear();
      // Entra without aadOptscim062020: remove with a value list removes only those members and
      // never empties the group (an empty list removes nothing).
      return folder.removeIds(toMemberRefs(value).map((r) => r.value));
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

function runOperations(ctx: Ctx, ops: readonly PatchOperation[]): void {
  for (const op of ops) applyOperation(ctx, op);
}

function workingCopy(resource: unknown): JsonObject {
  assertSafeJson(resource, '');
  if (!isPlainObject(resource)) throw invalidValue('resource must be an object');
  return cloneJson(resource);
}

function normalizedOrUndefined<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/**
 * `active` may be changed but not unassigned (`remove active`, or a null value): 400 mutability.
 * Every Roster user has an administrative status that its lifecycle follows (RFC 7643 §4.1.1
 * leaves the meaning of `active` to the service provider), so "no status" has no meaning here,
 * and reading it as the POST default (active) would silently reactivate a deactivated user, run
 * its joiner and restore its access while the IdP believes it only cleared a field. RFC 7644
 * §3.12: mutability is "not compatible with the target attribute's mutability or current state";
 * to deactivate, replace `active` with false.
 */
function assertActiveAssigned(root: JsonObject): void {
  if (typeof getOwn(root, 'active') !== 'boolean') {
    throw mutability('active: cannot be removed or set to null; replace it with true or false');
  }
}

/**
 * Applies PATCH operations to a stored User. Pure and atomic: the input is never modified and
 * any failure throws a ScimError (400) before anything is returned. `changed` is false when the
 * normalised result equals the normalised input.
 */
export function applyUserPatch(user: ScimUser, ops: readonly PatchOperation[]): { user: ScimUser; changed: boolean } {
  const root = workingCopy(user);
  runOperations({ rt: resourceTypes.User, root }, ops);
  assertActiveAssigned(root);
  const result = normalizeUserInput(root);
  const before = normalizedOrUndefined(() => normalizeUserInput(cloneJson(user)));
  return { user: result, changed: before === undefined || !deepEqual(before, result) };
}

/**
 * Applies PATCH operations to a stored Group. Members are not loaded: member operations become
 * a MemberChange, folded in op order. `changed` covers the group's own attributes only.
 */
export function applyGroupPatch(
  group: ScimGroup,
  ops: readonly PatchOperation[],
): { group: ScimGroup; changed: boolean; members: MemberChange } {
  const root = workingCopy(group);
  const members = new MemberFolder();
  runOperations({ rt: resourceTypes.Group, root, members }, ops);
  const { group: result } = normalizeGroupInput(root);
  const before = normalizedOrUndefined(() => normalizeGroupInput(cloneJson(group)).group);
  return { group: result, changed: before === undefined || !deepEqual(before, result), members: members.result() };
}
