/**
 * The SCIM schemas Roster serves (RFC 7643 §4, §8.7.1), as data. The same catalogue drives
 * `/Schemas`, attribute-name normalisation, the filter compiler's whitelist and the PATCH engine.
 */

export const URN = {
  user: 'urn:ietf:params:scim:schemas:core:2.0:User',
  group: 'urn:ietf:params:scim:schemas:core:2.0:Group',
  enterprise: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
  listResponse: 'urn:ietf:params:scim:api:messages:2.0:ListResponse',
  patchOp: 'urn:ietf:params:scim:api:messages:2.0:PatchOp',
  searchRequest: 'urn:ietf:params:scim:api:messages:2.0:SearchRequest',
  error: 'urn:ietf:params:scim:api:messages:2.0:Error',
  serviceProviderConfig: 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
  resourceType: 'urn:ietf:params:scim:schemas:core:2.0:ResourceType',
  schema: 'urn:ietf:params:scim:schemas:core:2.0:Schema',
} as const;

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';

export interface AttributeDef {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: 'none' | 'server' | 'global';
  readonly description?: string;
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly AttributeDef[];
}

export interface SchemaDef {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDef[];
}

type Opts = Partial<Omit<AttributeDef, 'name' | 'type'>>;
const attr = (name: string, type: AttributeType, o: Opts = {}): AttributeDef => ({
  name,
  type,
  multiValued: false,
  required: false,
  caseExact: false,
  mutability: 'readWrite',
  returned: 'default',
  uniqueness: 'none',
  ...o,
});
const str = (name: string, o: Opts = {}) => attr(name, 'string', o);
const multi = (name: string, sub: AttributeDef[], o: Opts = {}) =>
  attr(name, 'complex', { multiValued: true, subAttributes: sub, ...o });
const typedMulti = (name: string, types: string[], valueType: AttributeType = 'string') =>
  multi(name, [
    attr('value', valueType),
    str('display'),
    str('type', { canonicalValues: types }),
    attr('primary', 'boolean'),
  ]);

export const userSchema: SchemaDef = {
  id: URN.user,
  name: 'User',
  description: 'User Account',
  attributes: [
    str('userName', { required: true, uniqueness: 'server' }),
    attr('name', 'complex', {
      subAttributes: [
        str('formatted'),
        str('familyName'),
        str('givenName'),
        str('middleName'),
        str('honorificPrefix'),
        str('honorificSuffix'),
      ],
    }),
    str('displayName'),
    str('nickName'),
    attr('profileUrl', 'reference', { referenceTypes: ['external'] }),
    str('title'),
    str('userType'),
    str('preferredLanguage'),
    str('locale'),
    str('timezone'),
    attr('active', 'boolean'),
    str('password', { mutability: 'writeOnly', returned: 'never' }),
    typedMulti('emails', ['work', 'home', 'other']),
    typedMulti('phoneNumbers', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multi('ims', [str('value'), str('display'), str('type'), attr('primary', 'boolean')]),
    multi('photos', [attr('value', 'reference'), str('display'), str('type'), attr('primary', 'boolean')]),
    multi('addresses', [
      str('formatted'),
      str('streetAddress'),
      str('locality'),
      str('region'),
      str('postalCode'),
      str('country'),
      str('type', { canonicalValues: ['work', 'home', 'other'] }),
      attr('primary', 'boolean'),
    ]),
    multi(
      'groups',
      [
        str('value', { mutability: 'readOnly' }),
        attr('$ref', 'reference', { mutability: 'readOnly', referenceTypes: ['Group'] }),
        str('display', { mutability: 'readOnly' }),
        str('type', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
      { mutability: 'readOnly' },
    ),
    multi('entitlements', [str('value'), str('display'), str('type'), attr('primary', 'boolean')]),
    multi('roles', [str('value'), str('display'), str('type'), attr('primary', 'boolean')]),
    multi('x509Certificates', [str('value'), str('display'), str('type'), attr('primary', 'boolean')]),
  ],
};

export const enterpriseUserSchema: SchemaDef = {
  id: URN.enterprise,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    str('employeeNumber'),
    str('costCenter'),
    str('organization'),
    str('division'),
    str('department'),
    attr('manager', 'complex', {
      subAttributes: [
        str('value'),
        attr('$ref', 'reference', { referenceTypes: ['User'] }),
        str('displayName', { mutability: 'readOnly' }),
      ],
    }),
  ],
};

export const groupSchema: SchemaDef = {
  id: URN.group,
  name: 'Group',
  description: 'Group',
  attributes: [
    str('displayName', { required: true, uniqueness: 'server' }),
    multi('members', [
      str('value', { mutability: 'immutable' }),
      attr('$ref', 'reference', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
      // Derived from the member's current displayName (else userName), like User.groups.display
      // (RFC 7643 §4.1.2, readOnly), so it follows renames; a display sent by the client is ignored.
      // RFC 7643 §2.4 gives `display` "immutable" by default; the server's schema says otherwise.
      str('display', { mutability: 'readOnly' }),
      str('type', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
    ]),
  ],
};

/** Attributes common to every resource (RFC 7643 §3.1). */
export const commonAttributes: readonly AttributeDef[] = [
  str('id', { caseExact: true, mutability: 'readOnly', returned: 'always', uniqueness: 'server' }),
  str('externalId', { caseExact: true }),
  attr('meta', 'complex', {
    mutability: 'readOnly',
    subAttributes: [
      str('resourceType', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', { mutability: 'readOnly' }),
      attr('location', 'reference', { mutability: 'readOnly' }),
      str('version', { caseExact: true, mutability: 'readOnly' }),
    ],
  }),
];

export type ResourceTypeName = 'User' | 'Group';

export interface ResourceTypeDef {
  readonly name: ResourceTypeName;
  readonly endpoint: string;
  readonly schema: SchemaDef;
  readonly extensions: readonly SchemaDef[];
}

export const resourceTypes: Record<ResourceTypeName, ResourceTypeDef> = {
  User: { name: 'User', endpoint: '/Users', schema: userSchema, extensions: [enterpriseUserSchema] },
  Group: { name: 'Group', endpoint: '/Groups', schema: groupSchema, extensions: [] },
};

export const allSchemas: readonly SchemaDef[] = [userSchema, enterpriseUserSchema, groupSchema];

/** A resolved attribute: where it lives and its definition. */
export interface ResolvedAttribute {
  /** null for core (and common) attributes, the extension URN otherwise. */
  readonly extension: string | null;
  readonly def: AttributeDef;
  readonly sub?: AttributeDef;
}

const coreUrnAliases = (rt: ResourceTypeDef): string[] => {
  const base = rt.schema.id.toLowerCase();
  // OneLogin templates sometimes use urn:scim:schemas:core:2.0 style; Google mixes in 1.0.
  return [base, `urn:scim:schemas:core:2.0:${rt.name.toLowerCase()}`, 'urn:scim:schemas:core:2.0', 'urn:scim:schemas:core:1.0'];
};

/**
 * Splits an optional schema URN prefix off an attribute path ("urn:…:User:userName" →
 * { urn, rest: "userName" }). The URN is matched case-insensitively against known schemas.
 */
export function splitUrn(rt: ResourceTypeDef, path: string): { extension: string | null; rest: string } {
  const lower = path.toLowerCase();
  for (const ext of rt.extensions) {
    const id = ext.id.toLowerCase();
    if (lower === id) return { extension: ext.id, rest: '' };
    if (lower.startsWith(`${id}:`)) return { extension: ext.id, rest: path.slice(id.length + 1) };
  }
  for (const alias of coreUrnAliases(rt)) {
    if (lower.startsWith(`${alias}:`)) return { extension: null, rest: path.slice(alias.length + 1) };
  }
  return { extension: null, rest: path };
}

const findAttr = (list: readonly AttributeDef[] | undefined, name: string) =>
  list?.find((a) => a.name.toLowerCase() === name.toLowerCase());

/**
 * Resolves "name.givenName", "urn:…:enterprise:2.0:User:manager.value", "emails" etc. against the
 * catalogue, case-insensitively. Returns undefined when unknown.
 */
export function resolveAttribute(rt: ResourceTypeDef, path: string): ResolvedAttribute | undefined {
  const { extension, rest } = splitUrn(rt, path);
  const [head, sub, ...more] = rest.split('.');
  if (!head || more.length > 0) return undefined;
  const attrs = extension
    ? rt.extensions.find((e) => e.id === extension)?.attributes
    : [...commonAttributes, ...rt.schema.attributes];
  const def = findAttr(attrs, head);
  if (!def) return undefined;
  if (sub === undefined) return { extension, def };
  const subDef = findAttr(def.subAttributes, sub);
  return subDef ? { extension, def, sub: subDef } : undefined;
}
