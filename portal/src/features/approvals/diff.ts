/**
 * The field-by-field difference between a change's `before` and `after` (canonical JSON): every
 * leaf path with its two values, so approvers read exactly what changes, side by side.
 */

export interface FieldDiff {
  /** Dotted path (`roles`, `policy.kinds.webhook.create.approvals`); '' for a scalar root. */
  path: string;
  before: unknown;
  after: unknown;
  change: 'added' | 'removed' | 'changed' | 'same';
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Arrays of scalars are compared as one value (a role list reads better whole than by index). */
const isScalarArray = (v: unknown): boolean => Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object');

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    for (const key of Object.keys(value).sort()) flatten(value[key], prefix ? `${prefix}.${key}` : key, out);
  } else if (Array.isArray(value) && !isScalarArray(value) && value.length > 0) {
    value.forEach((item, i) => flatten(item, `${prefix}[${i}]`, out));
  } else {
    out.set(prefix, value);
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function diffFields(before: unknown, after: unknown): FieldDiff[] {
  const left = new Map<string, unknown>();
  const right = new Map<string, unknown>();
  if (before !== null && before !== undefined) flatten(before, '', left);
  if (after !== null && after !== undefined) flatten(after, '', right);
  const paths = [...new Set([...left.keys(), ...right.keys()])].sort();
  return paths.map((path) => {
    const b = left.get(path);
    const a = right.get(path);
    const change = !left.has(path) ? 'added' : !right.has(path) ? 'removed' : same(a, b) ? 'same' : 'changed';
    return { path, before: b, after: a, change };
  });
}

/** How a value reads in the diff table. */
export function showValue(value: unknown): string {
  if (value === undefined) return '';
  if (value === null) return 'none';
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** The role-mapping dry run as the request's effects carry it (gains and losses per person). */
export interface RoleEffect {
  userId: string;
  userName?: string | null;
  displayName?: string | null;
  gains: string[];
  losses: string[];
}

export function roleEffects(effects: Record<string, unknown> | undefined): { affectedUsers: number; changes: RoleEffect[] } | null {
  if (!effects) return null;
  const changes = effects.changes;
  if (!Array.isArray(changes)) return null;
  const rows = changes.filter((c): c is RoleEffect => isPlainObject(c) && typeof c.userId === 'string' && Array.isArray(c.gains) && Array.isArray(c.losses));
  const affected = typeof effects.affectedUsers === 'number' ? effects.affectedUsers : rows.length;
  return { affectedUsers: affected, changes: rows };
}
