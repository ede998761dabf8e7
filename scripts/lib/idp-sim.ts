/**
 * An identity provider, simulated: the directory it believes in (users, groups, memberships) and
 * the exact requests Okta and Microsoft Entra ID send to change it, as described in
 * docs/scim.md (../shared/docs/scim.md). Used by the IdP run of `npm run bench`
 * (scripts/lib/bench-idp.ts); it has no I/O of its own, so tests can drive it through any client.
 *
 * The model moves only when the server acknowledged a request (`onOk`), like a real IdP, which
 * records what it was told succeeded. A refused request leaves the model as it was and is an error
 * of the run; the final verification compares what SCIM reads return with this model.
 */

export const URN = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
} as const;

export type DialectName = 'okta' | 'entra';

export interface SimUser {
  /** Index in the directory (stable, the IdP's own key). */
  key: number;
  userName: string;
  /** Okta: the Okta user id; Entra: the Azure AD objectId. */
  externalId: string;
  givenName: string;
  familyName: string;
  displayName: string;
  email: string;
  title: string;
  /** Entra only (enterprise extension); Okta's default mapping does not send it. */
  department: string;
  active: boolean;
  deleted: boolean;
  /** The server's id, once created. */
  id?: string;
  /** Group keys this user is in (mirror of SimGroup.members). */
  groups: Set<number>;
}

export interface SimGroup {
  key: number;
  displayName: string;
  externalId: string;
  deleted: boolean;
  id?: string;
  members: Set<number>;
}

/** Small, fast, seedable PRNG (mulberry32): the same seed gives the same directory and churn. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates on a copy. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const hex = (random: () => number, n: number) => Array.from({ length: n }, () => Math.floor(random() * 16).toString(16)).join('');

/**
 * Who the IdP pushes into which group: `groupsPerUser` distinct groups per user, from its own
 * generator, so both dialects and the raw-PostgreSQL ceiling use exactly the same membership rows.
 */
export function membershipPlan(options: { users: number; groups: number; groupsPerUser: number; seed: number }): number[][] {
  const random = rng(options.seed ^ 0x5eed);
  const plan = Array.from({ length: options.groups }, () => [] as number[]);
  const per = Math.min(options.groupsPerUser, options.groups);
  for (let u = 0; u < options.users; u++) {
    const chosen = new Set<number>();
    while (chosen.size < per) chosen.add(Math.floor(random() * options.groups));
    for (const g of chosen) plan[g]!.push(u);
  }
  return plan;
}

/** The directory the IdP believes in. */
export class Directory {
  readonly users: SimUser[] = [];
  readonly groups: SimGroup[] = [];
  readonly random: () => number;

  constructor(
    readonly dialect: DialectName,
    options: { users: number; groups: number; groupsPerUser: number; seed: number; prefix: string },
  ) {
    this.random = rng(options.seed);
    const domain = dialect === 'entra' ? 'contoso.onmicrosoft.com' : 'example.okta.test';
    for (let i = 0; i < options.users; i++) {
      const userName = `${options.prefix}user${i}@${domain}`;
      this.users.push({
        key: i,
        userName,
        externalId: dialect === 'entra' ? `${hex(this.random, 8)}-${hex(this.random, 4)}-4${hex(this.random, 3)}-a${hex(this.random, 3)}-${hex(this.random, 12)}` : `00u${hex(this.random, 17)}`,
        givenName: `Given${i}`,
        familyName: `Family${i}`,
        displayName: `Given${i} Family${i}`,
        email: userName,
        title: 'Engineer',
        department: `Dept ${i % 17}`,
        active: true,
        deleted: false,
        groups: new Set(),
      });
    }
    for (let g = 0; g < options.groups; g++) {
      this.groups.push({
        key: g,
        displayName: `${options.prefix}Group ${g}`,
        externalId: dialect === 'entra' ? `${hex(this.random, 8)}-${hex(this.random, 4)}-4${hex(this.random, 3)}-b${hex(this.random, 3)}-${hex(this.random, 12)}` : `00g${hex(this.random, 17)}`,
        deleted: false,
        members: new Set(),
      });
    }
    this.planned = membershipPlan(options);
  }

  /** The group push the IdP has configured: group key → user keys, before anything was pushed. */
  readonly planned: number[][];

  addMember(g: SimGroup, u: SimUser) {
    // An add that raced the user's DELETE: the server keeps it for review, the user stays gone.
    if (u.deleted || g.deleted) return;
    g.members.add(u.key);
    u.groups.add(g.key);
  }

  removeMember(g: SimGroup, u: SimUser) {
    g.members.delete(u.key);
    u.groups.delete(g.key);
  }

  deleteUser(u: SimUser) {
    u.deleted = true;
    for (const gk of u.groups) this.groups[gk]!.members.delete(u.key);
    u.groups.clear();
  }

  deleteGroup(g: SimGroup) {
    g.deleted = true;
    for (const uk of g.members) this.users[uk]!.groups.delete(g.key);
    g.members.clear();
  }

  /** Acknowledged memberships, live users and groups only. */
  membershipCount(): number {
    return this.groups.reduce((n, g) => n + (g.deleted ? 0 : g.members.size), 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

export interface SimRequest {
  /** What kind of IdP action this is (statistics per kind). */
  kind: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the SCIM base (…/scim/v2), with query string. */
  path: string;
  body?: unknown;
  /** Statuses that count as success. */
  ok: readonly number[];
  /** Applied to the model when the server answered one of `ok` (body parsed when JSON). */
  onOk?: (status: number, body: unknown) => void;
  /** Member additions this request asks for (member-adds/s of the group push). */
  memberAdds?: number;
}

export interface Dialect {
  name: DialectName;
  headers: Record<string, string>;
  lookupUser(u: SimUser): SimRequest;
  createUser(u: SimUser): SimRequest;
  /** A profile change in the IdP (new title, display name, given name; Entra also department). */
  updateUser(u: SimUser, change: { title: string; givenName: string; department: string }): SimRequest;
  setActive(u: SimUser, active: boolean): SimRequest;
  /** Okta deactivates and never DELETEs users: null for Okta. */
  deleteUser(dir: Directory, u: SimUser): SimRequest | null;
  lookupGroup(g: SimGroup): SimRequest;
  createGroup(g: SimGroup): SimRequest;
  addMembers(dir: Directory, g: SimGroup, users: SimUser[]): SimRequest;
  removeMembers(dir: Directory, g: SimGroup, users: SimUser[]): SimRequest;
  renameGroup(g: SimGroup, displayName: string): SimRequest;
  /** Okta's "push now": replace members with the full list. Entra never sends it: null. */
  replaceMembers(dir: Directory, g: SimGroup, users: SimUser[]): SimRequest | null;
  deleteGroup(dir: Directory, g: SimGroup): SimRequest;
}

const q = (s: string) => encodeURIComponent(s);
const patch = (...ops: unknown[]) => ({ schemas: [URN.patchOp], Operations: ops });
const idOf = (body: unknown) => (body as { id: string }).id;
const lookupResult = (body: unknown) => body as { totalResults: number; Resources?: { id: string }[] };

/** The lookup found the resource (a re-run over an existing directory): adopt its id. */
function adopt(target: { id?: string }) {
  return (_status: number, body: unknown) => {
    const r = lookupResult(body);
    if (r.totalResults === 1 && r.Resources?.[0]) target.id = r.Resources[0].id;
  };
}

const GROUP_OK = [200, 204] as const;

/**
 * Okta (OIN SCIM 2.0 app): looks up by userName before creating, POSTs with a placeholder
 * password, updates profiles with PUT (carrying id, meta and `groups: []`), deactivates with a
 * no-path PATCH replace, pushes groups as `add members` PATCHes of up to 256 and removes with
 * `members[value eq "…"]`, one op per member (docs/scim.md "Okta").
 */
export const okta: Dialect = {
  name: 'okta',
  headers: { 'user-agent': 'Okta SCIM Client 1.0.0', 'content-type': 'application/json', accept: 'application/scim+json' },
  lookupUser: (u) => ({
    kind: 'lookup user',
    method: 'GET',
    path: `/Users?filter=${q(`userName eq "${u.userName}"`)}&startIndex=1&count=100`,
    ok: [200],
    onOk: adopt(u),
  }),
  createUser: (u) => ({
    kind: 'create user',
    method: 'POST',
    path: '/Users',
    body: {
      schemas: [URN.user],
      userName: u.userName,
      name: { givenName: u.givenName, familyName: u.familyName },
      emails: [{ primary: true, value: u.email, type: 'work' }],
      displayName: u.displayName,
      title: u.title,
      locale: 'en-US',
      externalId: u.externalId,
      groups: [],
      password: 'Ph@ceh0lder-Never-Stored',
      active: true,
    },
    ok: [201],
    onOk: (_s, body) => {
      u.id = idOf(body);
    },
  }),
  updateUser: (u, change) => {
    const displayName = `${change.givenName} ${u.familyName}`;
    return {
      kind: 'update user (PUT)',
      method: 'PUT',
      path: `/Users/${u.id}`,
      body: {
        schemas: [URN.user],
        id: u.id,
        userName: u.userName,
        name: { givenName: change.givenName, familyName: u.familyName },
        emails: [{ primary: true, value: u.email, type: 'work' }],
        displayName,
        title: change.title,
        locale: 'en-US',
        externalId: u.externalId,
        // Read-only in SCIM; Okta sends it anyway and it must not wipe memberships.
        groups: [],
        active: u.active,
        meta: { resourceType: 'User' },
      },
      ok: [200],
      onOk: () => {
        u.givenName = change.givenName;
        u.displayName = displayName;
        u.title = change.title;
      },
    };
  },
  setActive: (u, active) => ({
    kind: active ? 'reactivate user' : 'deactivate user',
    method: 'PATCH',
    path: `/Users/${u.id}`,
    body: patch({ op: 'replace', value: { active } }),
    ok: [200, 204],
    onOk: () => {
      u.active = active;
    },
  }),
  deleteUser: () => null,
  lookupGroup: (g) => ({
    kind: 'lookup group',
    method: 'GET',
    path: `/Groups?filter=${q(`displayName eq "${g.displayName}"`)}&startIndex=1&count=100`,
    ok: [200],
    onOk: adopt(g),
  }),
  createGroup: (g) => ({
    kind: 'create group',
    method: 'POST',
    path: '/Groups',
    body: { schemas: [URN.group], displayName: g.displayName, members: [] },
    ok: [201],
    onOk: (_s, body) => {
      g.id = idOf(body);
    },
  }),
  addMembers: (dir, g, users) => ({
    kind: 'add members',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    body: patch({ op: 'add', path: 'members', value: users.map((u) => ({ value: u.id, display: u.userName })) }),
    ok: GROUP_OK,
    memberAdds: users.length,
    onOk: () => users.forEach((u) => dir.addMember(g, u)),
  }),
  removeMembers: (dir, g, users) => ({
    kind: 'remove members',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    body: patch(...users.map((u) => ({ op: 'remove', path: `members[value eq "${u.id}"]` }))),
    ok: GROUP_OK,
    onOk: () => users.forEach((u) => dir.removeMember(g, u)),
  }),
  renameGroup: (g, displayName) => ({
    kind: 'rename group',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    // Okta's rename: a no-path replace carrying id and displayName (only the keys present change).
    body: patch({ op: 'replace', value: { id: g.id, displayName } }),
    ok: GROUP_OK,
    onOk: () => {
      g.displayName = displayName;
    },
  }),
  replaceMembers: (dir, g, users) => ({
    kind: 'push now (replace members)',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    body: patch({ op: 'replace', path: 'members', value: users.map((u) => ({ value: u.id, display: u.userName })) }),
    ok: GROUP_OK,
    onOk: () => {
      for (const uk of [...g.members]) dir.removeMember(g, dir.users[uk]!);
      for (const u of users) dir.addMember(g, u);
    },
  }),
  deleteGroup: (dir, g) => ({
    kind: 'delete group',
    method: 'DELETE',
    path: `/Groups/${g.id}`,
    ok: [204],
    onOk: () => dir.deleteGroup(g),
  }),
};

/**
 * Microsoft Entra ID (without the aadOptscim062020 flag, which customers cannot be made to set):
 * looks users up by externalId, POSTs with the enterprise extension, updates with one capitalised
 * PATCH op per attribute, deactivates with `"value": "False"` (a string), adds members with
 * `"op": "Add"` and removes them with `"op": "Remove", "path": "members", "value": [...]`, and
 * DELETEs a user (after its soft delete) (docs/scim.md "Microsoft Entra ID").
 */
export const entra: Dialect = {
  name: 'entra',
  headers: { 'user-agent': 'Azure AD SCIM client', 'content-type': 'application/scim+json', accept: 'application/scim+json' },
  lookupUser: (u) => ({
    kind: 'lookup user',
    method: 'GET',
    path: `/Users?filter=${q(`externalId eq "${u.externalId}"`)}`,
    ok: [200],
    onOk: adopt(u),
  }),
  createUser: (u) => ({
    kind: 'create user',
    method: 'POST',
    path: '/Users',
    body: {
      schemas: [URN.user, URN.enterprise],
      externalId: u.externalId,
      userName: u.userName,
      active: true,
      displayName: u.displayName,
      emails: [{ primary: true, type: 'work', value: u.email }],
      meta: { resourceType: 'User' },
      name: { formatted: u.displayName, familyName: u.familyName, givenName: u.givenName },
      title: u.title,
      [URN.enterprise]: { department: u.department, employeeNumber: String(100000 + u.key) },
    },
    ok: [201],
    onOk: (_s, body) => {
      u.id = idOf(body);
    },
  }),
  updateUser: (u, change) => {
    const displayName = `${change.givenName} ${u.familyName}`;
    return {
      kind: 'update user (PATCH)',
      method: 'PATCH',
      path: `/Users/${u.id}`,
      // Several attributes arrive as separate ops, capitalised.
      body: patch(
        { op: 'Replace', path: 'displayName', value: displayName },
        { op: 'Replace', path: 'name.givenName', value: change.givenName },
        { op: 'Replace', path: 'name.formatted', value: displayName },
        { op: 'Replace', path: 'title', value: change.title },
        { op: 'Replace', path: `${URN.enterprise}:department`, value: change.department },
      ),
      ok: [200, 204],
      onOk: () => {
        u.givenName = change.givenName;
        u.displayName = displayName;
        u.title = change.title;
        u.department = change.department;
      },
    };
  },
  setActive: (u, active) => ({
    kind: active ? 'reactivate user' : 'deactivate user',
    method: 'PATCH',
    path: `/Users/${u.id}`,
    body: patch({ op: 'Replace', path: 'active', value: active ? 'True' : 'False' }),
    ok: [200, 204],
    onOk: () => {
      u.active = active;
    },
  }),
  deleteUser: (dir, u) => ({
    kind: 'delete user',
    method: 'DELETE',
    path: `/Users/${u.id}`,
    ok: [204],
    onOk: () => dir.deleteUser(u),
  }),
  lookupGroup: (g) => ({
    kind: 'lookup group',
    method: 'GET',
    path: `/Groups?filter=${q(`displayName eq "${g.displayName}"`)}&excludedAttributes=members`,
    ok: [200],
    onOk: adopt(g),
  }),
  createGroup: (g) => ({
    kind: 'create group',
    method: 'POST',
    path: '/Groups',
    body: { schemas: [URN.group], externalId: g.externalId, displayName: g.displayName, members: [] },
    ok: [201],
    onOk: (_s, body) => {
      g.id = idOf(body);
    },
  }),
  addMembers: (dir, g, users) => ({
    kind: 'add members',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    body: patch({ op: 'Add', path: 'members', value: users.map((u) => ({ value: u.id })) }),
    ok: GROUP_OK,
    memberAdds: users.length,
    onOk: () => users.forEach((u) => dir.addMember(g, u)),
  }),
  removeMembers: (dir, g, users) => ({
    kind: 'remove members',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    // Must remove only the listed members, never empty the group (docs/scim.md).
    body: patch({ op: 'Remove', path: 'members', value: users.map((u) => ({ value: u.id })) }),
    ok: GROUP_OK,
    onOk: () => users.forEach((u) => dir.removeMember(g, u)),
  }),
  renameGroup: (g, displayName) => ({
    kind: 'rename group',
    method: 'PATCH',
    path: `/Groups/${g.id}`,
    body: patch({ op: 'Replace', path: 'displayName', value: displayName }),
    ok: GROUP_OK,
    onOk: () => {
      g.displayName = displayName;
    },
  }),
  replaceMembers: () => null,
  deleteGroup: (dir, g) => ({
    kind: 'delete group',
    method: 'DELETE',
    path: `/Groups/${g.id}`,
    ok: [204],
    onOk: () => dir.deleteGroup(g),
  }),
};

export const dialects: Record<DialectName, Dialect> = { okta, entra };

// ---------------------------------------------------------------------------------------------
// Verification: what SCIM reads must return for the model.

export function verifyUserRequest(u: SimUser): SimRequest {
  return { kind: 'verify user', method: 'GET', path: `/Users/${u.id}`, ok: u.deleted ? [404] : [200] };
}

export function verifyGroupRequest(g: SimGroup): SimRequest {
  return { kind: 'verify group', method: 'GET', path: `/Groups/${g.id}`, ok: g.deleted ? [404] : [200] };
}

/** Differences between a SCIM User resource and the model (empty when equal). */
export function diffUser(dir: Directory, u: SimUser, resource: unknown): string[] {
  if (u.deleted) return [];
  const r = resource as {
    userName?: string;
    externalId?: string;
    active?: boolean;
    displayName?: string;
    title?: string;
    name?: { givenName?: string; familyName?: string };
    emails?: { value: string }[];
    groups?: { value: string }[];
    [URN.enterprise]?: { department?: string };
  };
  const out: string[] = [];
  const check = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`user ${u.userName} ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  check('userName', r.userName, u.userName);
  check('externalId', r.externalId, u.externalId);
  check('active', r.active, u.active);
  check('displayName', r.displayName, u.displayName);
  check('name.givenName', r.name?.givenName, u.givenName);
  check('name.familyName', r.name?.familyName, u.familyName);
  check('title', r.title, u.title);
  check('emails', (r.emails ?? []).map((e) => e.value), [u.email]);
  if (dir.dialect === 'entra') check('department', r[URN.enterprise]?.department, u.department);
  const idToGroup = new Map(dir.groups.filter((g) => g.id).map((g) => [g.id!, g.key]));
  const got = (r.groups ?? []).map((g) => idToGroup.get(g.value) ?? g.value).sort();
  const want = [...u.groups].sort();
  check('groups', got, want);
  return out;
}

/** Differences between a SCIM Group resource and the model: display name, missing and extra members. */
export function diffGroup(dir: Directory, g: SimGroup, resource: unknown): { problems: string[]; missing: number; extra: number } {
  if (g.deleted) return { problems: [], missing: 0, extra: 0 };
  const r = resource as { displayName?: string; members?: { value: string }[] };
  const problems: string[] = [];
  if (r.displayName !== g.displayName) problems.push(`group ${g.key} displayName: got ${JSON.stringify(r.displayName)}, want ${JSON.stringify(g.displayName)}`);
  const got = new Set((r.members ?? []).map((m) => m.value));
  const want = new Set([...g.members].filter((k) => !dir.users[k]!.deleted).map((k) => dir.users[k]!.id!));
  const missing = [...want].filter((id) => !got.has(id));
  const extra = [...got].filter((id) => !want.has(id));
  if (missing.length || extra.length) {
    problems.push(`group ${g.displayName}: ${missing.length} members missing, ${extra.length} unexpected (of ${want.size} expected)`);
  }
  return { problems, missing: missing.length, extra: extra.length };
}
