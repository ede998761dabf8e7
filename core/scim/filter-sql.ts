/**
 * Compiles a parsed SCIM filter (./filter.ts) into a parameterised SQL fragment for the list
 * queries, through a whitelist: only attributes of the catalogue (./schema.ts) that are mapped
 * below reach SQL, column and key names come from this file, and every client value is bound as
 * a parameter. Pure: no database access.
 *
 * The fragment refers to the caller's table alias, `u` for users and `g` for groups:
 *   SELECT … FROM users u WHERE u.tenant_id = $1 AND u.scim_deleted_at IS NULL AND (<fragment>)
 *
 * Errors: filters that cannot be compiled (unknown or unfilterable attribute, type mismatch,
 * operator not allowed for the type) are 400 `invalidFilter`; `compileSortBy` failures are 400
 * `invalidValue` (RFC 7644 §3.4.2.3 names no scimType for sortBy, and `invalidPath` belongs to
 * PATCH paths, §3.5.2).
 */
import { sql, type FragmentSqlToken } from 'slonik';
import { ScimError, type ScimType } from '../errors.js';
import { escapeLike, foldKey } from './fold.js';
import { formatAttrPath, parseAttrPath, type AttrPath, type CompareOp, type CompareValue, type FilterNode } from './filter.js';
import { URN, resolveAttribute, resourceTypes, type AttributeDef, type ResourceTypeName } from './schema.js';

type Fragment = FragmentSqlToken;

/**
 * How a string attribute compares (RFC 7643 §2.2 caseExact):
 * - `exact`: as stored;
 * - `lower`: `lower()` of both sides, in SQL so both sides fold the same way;
 * - `key`: the column already holds `foldKey()` of the value (user_name_key, display_name_key), so
 *   the client value is folded in JS and compared directly, which is what lets `userName eq`
 *   use the unique index (tenant_id, user_name_key).
 */
export type StringMatch = 'exact' | 'lower' | 'key';

/** A single value the filter can compare: a column or a jsonb field. */
export interface ScalarTarget {
  readonly kind: 'scalar';
  /** Canonical attribute path, for messages. */
  readonly name: string;
  readonly type: 'string' | 'boolean' | 'dateTime';
  readonly expr: Fragment;
  readonly match: StringMatch;
  /** The uuid column behind a `::text` expr: `eq` with a uuid value compares it instead (index). */
  readonly uuid?: Fragment;
}

/** A complex attribute: a jsonb object, a jsonb array of objects, or a membership relation. */
export interface ComplexTarget {
  readonly kind: 'complex';
  readonly name: string;
  readonly multiValued: boolean;
  /** Filterable sub-attributes by lower-cased name. Their exprs are only valid inside `within`. */
  readonly subs: ReadonlyMap<string, ScalarTarget>;
  /** `attr pr`: the object is non-empty / there is at least one value. */
  readonly present: Fragment;
  /** True when some value of the attribute satisfies `predicate` (EXISTS for multi-valued). */
  readonly within: (predicate: Fragment) => Fragment;
}

export type FilterTarget = ScalarTarget | ComplexTarget;

export interface ResolvedTarget {
  readonly target: FilterTarget;
  /** Set when the path names a sub-attribute (`emails.value`, `name.givenName`). */
  readonly sub?: ScalarTarget;
}

const reject = (scimType: ScimType, detail: string): never => {
  throw ScimError.badRequest(scimType, detail);
};
const invalid = (detail: string): never => reject('invalidFilter', detail);

// Catalogue names are embedded as SQL literals (readable SQL, usable by expression indexes);
// the check keeps a future catalogue entry from smuggling SQL in.
const key = (name: string): Fragment => {
  if (!/^[A-Za-z$][A-Za-z0-9]*$/.test(name)) throw new Error(`unsafe catalogue attribute name: ${name}`);
  return sql.literalValue(name);
};

const scalar = (name: string, type: ScalarTarget['type'], expr: Fragment, match: StringMatch = 'exact', uuid?: Fragment): ScalarTarget => ({
  kind: 'scalar',
  name,
  type,
  expr,
  match,
  ...(uuid && { uuid }),
});

const caseRule = (def: AttributeDef): StringMatch => (def.caseExact ? 'exact' : 'lower');

/** A field of a jsonb object. Non-boolean JSON under a boolean attribute reads as NULL, not a cast error. */
function jsonField(obj: Fragment, def: AttributeDef, name: string): ScalarTarget | undefined {
  const k = key(def.name);
  switch (def.type) {
    case 'string':
    case 'reference':
      return scalar(name, 'string', sql.fragment`(${obj}->>${k})`, caseRule(def));
    case 'boolean': {
      const v = sql.fragment`(${obj}->${k})`;
      return scalar(name, 'boolean', sql.fragment`(CASE WHEN jsonb_typeof(${v}) = 'boolean' THEN ${v}::boolean END)`);
    }
    default:
      return undefined;
  }
}

const subsOf = (def: AttributeDef, toTarget: (sub: AttributeDef) => ScalarTarget | undefined) =>
  new Map(
    (def.subAttributes ?? []).flatMap((sub) => {
      const t = sub.returned === 'never' ? undefined : toTarget(sub);
      return t ? [[sub.name.toLowerCase(), t] as const] : [];
    }),
  );

const TRUE = sql.fragment`TRUE`;

/** A singular complex attribute stored as a jsonb object (`name`, enterprise `manager`). */
function jsonObject(obj: Fragment, def: AttributeDef, name = def.name): ComplexTarget {
  return {
    kind: 'complex',
    name,
    multiValued: false,
    subs: subsOf(def, (sub) => jsonField(obj, sub, `${name}.${sub.name}`)),
    present: sql.fragment`(jsonb_typeof(${obj}) = 'object' AND ${obj} <> '{}'::jsonb)`,
    within: (predicate) => predicate,
  };
}

const ELEMENT = sql.fragment`e.v`;

/**
 * A multi-valued complex attribute stored as a jsonb array. Anything but an array (IdP data is
 * kept verbatim) reads as empty rather than failing jsonb_array_elements with a 500.
 */
function jsonArray(arr: Fragment, def: AttributeDef): ComplexTarget {
  const values = sql.fragment`jsonb_array_elements(CASE WHEN jsonb_typeof(${arr}) = 'array' THEN ${arr} ELSE '[]'::jsonb END) AS e(v)`;
  return {
    kind: 'complex',
    name: def.name,
    multiValued: true,
    subs: subsOf(def, (sub) => jsonField(ELEMENT, sub, `${def.name}.${sub.name}`)),
    present: sql.fragment`EXISTS (SELECT 1 FROM ${values})`,
    within: (predicate) => sql.fragment`EXISTS (SELECT 1 FROM ${values} WHERE ${predicate})`,
  };
}

function relation(name: string, subs: ReadonlyMap<string, ScalarTarget>, within: (p: Fragment) => Fragment): ComplexTarget {
  return { kind: 'complex', name, multiValued: true, subs, present: within(TRUE), within };
}

/** User.groups is derived from group_members (RFC 7643 §4.1.2: read-only, membership lives on Group). */
const userGroups = relation(
  'groups',
  new Map([
    ['value', scalar('groups.value', 'string', sql.fragment`gg.id::text`, 'lower', sql.fragment`gg.id`)],
    ['display', scalar('groups.display', 'string', sql.fragment`gg.display_name_key`, 'key')],
    ['type', scalar('groups.type', 'string', sql.fragment`'direct'::text`, 'lower')],
  ]),
  (p) =>
    sql.fragment`EXISTS (SELECT 1 FROM group_members gm JOIN groups gg ON gg.tenant_id = gm.tenant_id AND gg.id = gm.group_id WHERE gm.tenant_id = u.tenant_id AND gm.user_id = u.id AND ${p})`,
);

const groupMembers = relation(
  'members',
  new Map([
    ['value', scalar('members.value', 'string', sql.fragment`gm.user_id::text`, 'lower', sql.fragment`gm.user_id`)],
    ['type', scalar('members.type', 'string', sql.fragment`'User'::text`, 'lower')],
  ]),
  (p) => sql.fragment`EXISTS (SELECT 1 FROM group_members gm WHERE gm.tenant_id = g.tenant_id AND gm.group_id = g.id AND ${p})`,
);

/** meta (RFC 7643 §3.1): timestamps are columns, resourceType is a constant; location and version are not filterable. */
function meta(t: Fragment, resourceType: ResourceTypeName): ComplexTarget {
  return {
    kind: 'complex',
    name: 'meta',
    multiValued: false,
    subs: new Map([
      ['created', scalar('meta.created', 'dateTime', sql.fragment`${t}.created_at`)],
      ['lastmodified', scalar('meta.lastModified', 'dateTime', sql.fragment`${t}.updated_at`)],
      ['resourcetype', scalar('meta.resourceType', 'string', sql.fragment`${sql.literalValue(resourceType)}::text`)],
    ]),
    present: TRUE,
    within: (predicate) => predicate,
  };
}

/** Attributes without a column of their own live in the `attributes` jsonb, verbatim. */
function inJsonb(obj: Fragment, def: AttributeDef): FilterTarget | undefined {
  if (def.type !== 'complex') return jsonField(obj, def, def.name);
  const value = sql.fragment`(${obj}->${key(def.name)})`;
  return def.multiValued ? jsonArray(value, def) : jsonObject(value, def);
}

type TargetFor = (def: AttributeDef) => FilterTarget | undefined;

interface Mapping {
  /** Core and common attributes with a dedicated column, by canonical name. */
  readonly columns: Readonly<Record<string, TargetFor>>;
  /** Any other core attribute in the catalogue. */
  readonly other: TargetFor;
  /** Attributes of schema extensions, by extension URN. */
  readonly extensions: Readonly<Record<string, TargetFor>>;
}

const mappings: Record<ResourceTypeName, Mapping> = {
  User: {
    columns: {
      id: () => scalar('id', 'string', sql.fragment`u.id::text`, 'exact', sql.fragment`u.id`),
      externalId: () => scalar('externalId', 'string', sql.fragment`u.external_id`, 'exact'),
      userName: () => scalar('userName', 'string', sql.fragment`u.user_name_key`, 'key'),
      displayName: () => scalar('displayName', 'string', sql.fragment`u.display_name`, 'lower'),
      active: () => scalar('active', 'boolean', sql.fragment`u.active`),
      name: (def) => jsonObject(sql.fragment`u.name`, def),
      emails: (def) => jsonArray(sql.fragment`u.emails`, def),
      phoneNumbers: (def) => jsonArray(sql.fragment`u.phone_numbers`, def),
      groups: () => userGroups,
      meta: () => meta(sql.fragment`u`, 'User'),
    },
    other: (def) => inJsonb(sql.fragment`u.attributes`, def),
    extensions: {
      [URN.enterprise]: (def) => inJsonb(sql.fragment`u.enterprise`, def),
    },
  },
  Group: {
    columns: {
      id: () => scalar('id', 'string', sql.fragment`g.id::text`, 'exact', sql.fragment`g.id`),
      externalId: () => scalar('externalId', 'string', sql.fragment`g.external_id`, 'exact'),
      displayName: () => scalar('displayName', 'string', sql.fragment`g.display_name_key`, 'key'),
      members: () => groupMembers,
      meta: () => meta(sql.fragment`g`, 'Group'),
    },
    other: (def) => inJsonb(sql.fragment`g.attributes`, def),
    extensions: {},
  },
};

const pathText = (path: AttrPath) => {
  const text = formatAttrPath({ ...path, valueFilter: undefined });
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
};

function resolveTarget(resourceType: ResourceTypeName, path: AttrPath, scimType: ScimType): ResolvedTarget {
  const written = pathText(path);
  const resolved = resolveAttribute(resourceTypes[resourceType], formatAttrPath({ ...path, valueFilter: undefined }));
  if (!resolved) return reject(scimType, `Unknown attribute '${written}' for resource type ${resourceType}`);
  const { def, extension } = resolved;
  // RFC 7643 §7: `returned: never` (password) must not be observable, not even through filters.
  if (def.returned === 'never' || resolved.sub?.returned === 'never') {
    return reject(scimType, `Attribute '${written}' cannot be used in a filter`);
  }
  const mapping = mappings[resourceType];
  const targetFor = extension ? mapping.extensions[extension] : (mapping.columns[def.name] ?? mapping.other);
  const target = targetFor?.(def) ?? reject(scimType, `Attribute '${written}' cannot be used in a filter`);
  if (!resolved.sub) return { target };
  const sub = target.kind === 'complex' ? target.subs.get(resolved.sub.name.toLowerCase()) : undefined;
  return sub ? { target, sub } : reject(scimType, `Attribute '${written}' cannot be used in a filter`);
}

/**
 * Resolves a filter attribute path (case-insensitive, optional schema URN prefix) to where it
 * lives in SQL. Unknown or unfilterable attributes are 400 `invalidFilter`.
 */
export function resolveFilterAttribute(resourceType: ResourceTypeName, path: AttrPath): ResolvedTarget {
  return resolveTarget(resourceType, path, 'invalidFilter');
}

/** How paths resolve: against the resource, or (inside `attr[…]`) against attr's sub-attributes. */
type Scope = (path: AttrPath) => ResolvedTarget;

const valueScope =
  (parent: ComplexTarget): Scope =>
  (path) => {
    const sub = path.uri === undefined && path.sub === undefined && !path.valueFilter ? parent.subs.get(path.attr.toLowerCase()) : undefined;
    return sub ? { target: sub } : invalid(`'${pathText(path)}' is not a filterable sub-attribute of '${parent.name}'`);
  };

const SQL_OPS: Record<Exclude<CompareOp, 'co' | 'sw' | 'ew'>, Fragment> = {
  eq: sql.fragment`=`,
  ne: sql.fragment`IS DISTINCT FROM`,
  gt: sql.fragment`>`,
  ge: sql.fragment`>=`,
  lt: sql.fragment`<`,
  le: sql.fragment`<=`,
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function compareString(t: ScalarTarget, op: CompareOp, value: string): Fragment {
  const v = t.match === 'key' ? foldKey(value) : value;
  const lhs = t.match === 'lower' ? sql.fragment`lower(${t.expr})` : t.expr;
  const rhs = (x: string) => (t.match === 'lower' ? sql.fragment`lower(${x}::text)` : sql.fragment`${x}`);
  switch (op) {
    case 'co':
    case 'sw':
    case 'ew': {
      // escapeLike so that `sw "%"` matches a literal percent sign, not everything.
      const e = escapeLike(v);
      const pattern = op === 'co' ? `%${e}%` : op === 'sw' ? `${e}%` : `%${e}`;
      return sql.fragment`${lhs} LIKE ${rhs(pattern)} ESCAPE '\\'`;
    }
    case 'eq': {
      // Case-insensitive ids accept any case; caseExact ones only the canonical lower case.
      const id = t.match === 'lower' ? v.toLowerCase() : v;
      if (t.uuid && UUID.test(id)) return sql.fragment`${t.uuid} = ${id}::uuid`;
      return sql.fragment`${lhs} = ${rhs(v)}`;
    }
    default:
      // ne is IS DISTINCT FROM so an absent (NULL) attribute counts as "not equal".
      return sql.fragment`${lhs} ${SQL_OPS[op]} ${rhs(v)}`;
  }
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))?)?$/;

/**
 * Strict ISO 8601 / RFC 3339 check, done here because Date.parse accepts "2024-02-30" and
 * PostgreSQL would then fail the cast with a 500.
 */
export function isDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, oh = 0, om = 0] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return y >= 1 && days !== undefined && d >= 1 && d <= days && h <= 23 && mi <= 59 && s <= 59 && oh <= 14 && om <= 59;
}

function compareScalar(t: ScalarTarget, op: CompareOp, value: Exclude<CompareValue, null>): Fragment {
  switch (t.type) {
    case 'boolean':
      if (typeof value !== 'boolean') return invalid(`'${t.name}' is boolean: compare it with true or false, not ${JSON.stringify(value)}`);
      // RFC 7644 §3.4.2.2: gt/ge/lt/le on a boolean is invalidFilter; co/sw/ew make no sense either.
      if (op !== 'eq' && op !== 'ne') return invalid(`Operator '${op}' cannot be used with boolean attribute '${t.name}'`);
      return sql.fragment`${t.expr} ${SQL_OPS[op]} ${value}`;
    case 'dateTime':
      if (typeof value !== 'string' || !isDateTime(value)) {
        return invalid(`'${t.name}' is a dateTime: compare it with an ISO 8601 string such as "2024-01-31T12:00:00Z", not ${JSON.stringify(value)}`);
      }
      if (op === 'co' || op === 'sw' || op === 'ew') return invalid(`Operator '${op}' cannot be used with dateTime attribute '${t.name}'`);
      return sql.fragment`${t.expr} ${SQL_OPS[op]} ${value}::timestamptz`;
    case 'string':
      if (typeof value !== 'string') return invalid(`'${t.name}' is a string: quote the value (found ${JSON.stringify(value)})`);
      return compareString(t, op, value);
  }
}

function scalarPresent(t: ScalarTarget): Fragment {
  return t.type === 'string' ? sql.fragment`(${t.expr} IS NOT NULL AND ${t.expr} <> '')` : sql.fragment`${t.expr} IS NOT NULL`;
}

const both = (a: Fragment | undefined, b: Fragment): Fragment => (a ? sql.fragment`(${a}) AND (${b})` : b);
const not = (f: Fragment): Fragment => sql.fragment`NOT coalesce((${f}), false)`;

const notComplex = (path: AttrPath): never =>
  invalid(`'${pathText({ ...path, sub: undefined })}' is not a complex attribute and cannot take a value filter`);

function present(path: AttrPath, scope: Scope): Fragment {
  const { target, sub } = scope(path);
  if (target.kind === 'scalar') return path.valueFilter ? notComplex(path) : scalarPresent(target);
  const filter = path.valueFilter && compile(path.valueFilter, valueScope(target));
  if (sub) return target.within(both(filter, scalarPresent(sub)));
  return filter ? target.within(filter) : target.present;
}

function compare(path: AttrPath, op: CompareOp, value: Exclude<CompareValue, null>, scope: Scope): Fragment {
  const { target, sub } = scope(path);
  if (target.kind === 'scalar') return path.valueFilter ? notComplex(path) : compareScalar(target, op, value);
  // `emails co "x"` compares the `value` sub-attribute (RFC 7644 §3.4.2.2, multi-valued attributes).
  const leaf =
    sub ??
    target.subs.get('value') ??
    invalid(`'${target.name}' is complex: compare one of its sub-attributes (${[...target.subs.values()].map((s) => s.name).join(', ')})`);
  const filter = path.valueFilter && compile(path.valueFilter, valueScope(target));
  // For multi-valued attributes `ne` means "no value equals", so resources without any value match
  // too, as they do for single-valued `ne`.
  if (op === 'ne' && target.multiValued) return not(target.within(both(filter, compareScalar(leaf, 'eq', value))));
  return target.within(both(filter, compareScalar(leaf, op, value)));
}

/** Operands of a chain of one logical operator, collected without recursion (chains are left-deep). */
function operands(node: FilterNode & { kind: 'and' | 'or' }): FilterNode[] {
  const out: FilterNode[] = [];
  const stack: FilterNode[] = [node];
  for (let n = stack.pop(); n; n = stack.pop()) {
    if ((n.kind === 'and' || n.kind === 'or') && n.kind === node.kind) stack.push(n.right, n.left);
    else out.push(n);
  }
  return out;
}

function compile(node: FilterNode, scope: Scope): Fragment {
  switch (node.kind) {
    case 'and':
    case 'or': {
      const parts = operands(node).map((n) => sql.fragment`(${compile(n, scope)})`);
      return sql.fragment`${sql.join(parts, node.kind === 'and' ? sql.fragment` AND ` : sql.fragment` OR `)}`;
    }
    case 'not':
      // coalesce: NOT of an absent attribute's NULL comparison must be true, not NULL.
      return not(compile(node.filter, scope));
    case 'valuePath': {
      if (node.attr.sub !== undefined) return invalid(`A value filter cannot follow sub-attribute '${pathText(node.attr)}'`);
      const { target } = scope(node.attr);
      if (target.kind !== 'complex') return notComplex(node.attr);
      return target.within(compile(node.filter, valueScope(target)));
    }
    case 'present':
      return present(node.path, scope);
    case 'compare':
      // `eq null` asks for absence (RFC 7644 §3.4.2.2 treats null as unassigned).
      if (node.value === null) {
        if (node.op === 'eq') return not(present(node.path, scope));
        if (node.op === 'ne') return present(node.path, scope);
        return invalid(`null can only be compared with eq or ne, not '${node.op}'`);
      }
      return compare(node.path, node.op, node.value, scope);
  }
}

/**
 * Compiles a filter AST to a boolean SQL fragment over alias `u` (User) or `g` (Group).
 * Throws ScimError 400 `invalidFilter` for anything it cannot compile.
 */
export function compileFilter(node: FilterNode, resourceType: ResourceTypeName): FragmentSqlToken {
  return compile(node, (path) => resolveFilterAttribute(resourceType, path));
}

/** sortBy attributes whose column is NOT NULL: their pages are one index range (list-page.ts). */
const NOT_NULL_SORT_KEYS: Record<ResourceTypeName, ReadonlySet<string>> = {
  User: new Set(['id', 'userName', 'active', 'meta.created', 'meta.lastModified', 'meta.resourceType']),
  Group: new Set(['id', 'displayName', 'meta.created', 'meta.lastModified', 'meta.resourceType']),
};

export interface SortKey {
  expr: FragmentSqlToken;
  /** The expression is never NULL, so no NULLS LAST step is needed in keyset comparisons. */
  notNull: boolean;
}

/**
 * The ORDER BY expression for `sortBy` (RFC 7644 §3.4.2.3), without direction: only
 * single-valued attributes and sub-attributes of singular complex ones (`name.familyName`,
 * `meta.lastModified`). Case-insensitive strings sort by their folded form. Anything else is
 * 400 `invalidValue`.
 */
export function compileSortKey(path: string, resourceType: ResourceTypeName): SortKey {
  let parsed: AttrPath;
  try {
    parsed = parseAttrPath(path, { maxLength: 1000, maxDepth: 0 });
  } catch (e) {
    throw e instanceof ScimError ? ScimError.badRequest('invalidValue', `Invalid sortBy: ${e.detail}`) : e;
  }
  if (parsed.valueFilter) return reject('invalidValue', 'sortBy cannot contain a value filter');
  const { target, sub } = resolveTarget(resourceType, parsed, 'invalidValue');
  const leaf = target.kind === 'scalar' ? target : !target.multiValued ? sub : undefined;
  if (!leaf) return reject('invalidValue', `sortBy must name a single-valued attribute; '${pathText(parsed)}' is not one`);
  return {
    expr: leaf.match === 'lower' ? sql.fragment`lower(${leaf.expr})` : leaf.expr,
    notNull: NOT_NULL_SORT_KEYS[resourceType].has(leaf.name),
  };
}

export function compileSortBy(path: string, resourceType: ResourceTypeName): FragmentSqlToken {
  return compileSortKey(path, resourceType).expr;
}
