/**
 * SCIM filter parser (RFC 7644 §3.4.2.2), hand-written so that it can promise two things the
 * npm parsers do not: any string input either parses or fails with a 400 `invalidFilter`
 * (never a RangeError from deep nesting), and values come out as data, never as SQL.
 *
 * Grammar, as accepted (RFC 7644 §3.4.2.2 ABNF, with the leniencies noted):
 *
 *   filter    = or EOF
 *   or        = and *("or" and)
 *   and       = unary *("and" unary)
 *   unary     = "not" "(" or ")" / "(" or ")" / attrExp
 *   attrExp   = attrPath ( "pr" / compareOp compValue )
 *             / attrPath "[" valFilter "]" [ "." ATTRNAME ( "pr" / compareOp compValue ) ]
 *   attrPath  = [URI ":"] ATTRNAME ["." ATTRNAME]
 *
 * Keywords, operators and true/false/null are case-insensitive. Whitespace may be any of
 * space, tab, CR, LF and is optional around brackets and string literals.
 */
import { ScimError } from '../errors.js';

export const COMPARE_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];
export type CompareValue = string | number | boolean | null;

/**
 * An attribute path as written. `uri` is the schema URN prefix (without the trailing colon);
 * `valueFilter` is set for `emails[type eq "work"].value`, where it restricts which values of
 * the multi-valued attribute `sub` is read from.
 */
export interface AttrPath {
  readonly uri?: string;
  readonly attr: string;
  readonly sub?: string;
  readonly valueFilter?: FilterNode;
}

export type FilterNode =
  | { readonly kind: 'compare'; readonly path: AttrPath; readonly op: CompareOp; readonly value: CompareValue }
  | { readonly kind: 'present'; readonly path: AttrPath }
  | { readonly kind: 'and' | 'or'; readonly left: FilterNode; readonly right: FilterNode }
  | { readonly kind: 'not'; readonly filter: FilterNode }
  /** `emails[type eq "work"]`: true when some value of `attr` matches `filter`. */
  | { readonly kind: 'valuePath'; readonly attr: AttrPath; readonly filter: FilterNode };

export interface FilterLimits {
  readonly maxLength: number;
  readonly maxDepth: number;
}

/**
 * Whatever the caller configures, nesting stops here: the parser and compiler recurse once per
 * level, and this keeps them far from the stack limit.
 */
export const HARD_MAX_DEPTH = 500;

type TokenType = 'word' | 'string' | 'number' | '(' | ')' | '[' | ']' | '.' | 'eof';

interface Token {
  readonly type: TokenType;
  /** Source text (for strings: the decoded value). */
  readonly text: string;
  readonly number?: number;
  /** 0-based offset; messages report it 1-based. */
  readonly pos: number;
}

const fail = (message: string): never => {
  throw ScimError.badRequest('invalidFilter', message);
};

const at = (pos: number) => `at position ${pos + 1}`;

const describeChar = (ch: string): string => {
  const code = ch.codePointAt(0) ?? 0;
  return code > 0x20 && code < 0x7f ? `'${ch}'` : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
};

const describeToken = (t: Token): string => {
  switch (t.type) {
    case 'eof':
      return 'end of filter';
    case 'string':
      return 'a string';
    case 'number':
      return `number ${t.text}`;
    case 'word':
      return `'${t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text}'`;
    default:
      return `'${t.type}'`;
  }
};

const isWordStart = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 36; /* $ */
const isWordPart = (c: number) =>
  isWordStart(c) || (c >= 48 && c <= 57) || c === 95 /* _ */ || c === 45 /* - */ || c === 58 /* : */ || c === 46; /* . */
const isNumberPart = (c: number) => isWordPart(c) || c === 43; /* + */
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13;

const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function readString(input: string, start: number): { value: string; end: number } {
  let out = '';
  let i = start + 1;
  for (;;) {
    if (i >= input.length) return fail(`Unterminated string starting ${at(start)}`);
    const ch = input[i] as string;
    const code = ch.charCodeAt(0);
    if (ch === '"') return { value: out, end: i + 1 };
    if (code === 0) return fail(`NUL is not allowed in a filter value ${at(i)}`);
    // JSON (RFC 8259 §7) forbids raw control characters inside strings.
    if (code < 0x20) return fail(`Control character ${describeChar(ch)} inside string ${at(i)}; escape it`);
    if (ch !== '\\') {
      out += ch;
      i += 1;
      continue;
    }
    const esc = input[i + 1];
    switch (esc) {
      case '"':
      case '\\':
      case '/':
        out += esc;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        const hex = input.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) return fail(`Invalid \\u escape ${at(i)}: expected four hex digits`);
        const decoded = String.fromCharCode(parseInt(hex, 16));
        // PostgreSQL text cannot hold NUL: let it through and the query fails with a 500.
        if (decoded === '\0') return fail(`NUL (\\u0000) is not allowed in a filter value ${at(i)}`);
        out += decoded;
        i += 4;
        break;
      }
      case undefined:
        return fail(`Unterminated string starting ${at(start)}`);
      default:
        return fail(`Invalid escape \\${esc} inside string ${at(i)}`);
    }
    i += 2;
  }
}

function tokenize(input: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const ch = input[i] as string;
    const c = ch.charCodeAt(0);
    if (isSpace(c)) {
      i += 1;
    } else if (ch === '(' || ch === ')' || ch === '[' || ch === ']' || ch === '.') {
      tokens.push({ type: ch, text: ch, pos: i });
      i += 1;
    } else if (ch === '"') {
      const { value, end } = readString(input, i);
      tokens.push({ type: 'string', text: value, pos: i });
      i = end;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      let j = i + 1;
      while (j < input.length && isNumberPart(input.charCodeAt(j))) j += 1;
      const text = input.slice(i, j);
      const n = Number(text);
      if (!JSON_NUMBER.test(text) || !Number.isFinite(n)) fail(`Invalid number '${text.slice(0, 40)}' ${at(i)}`);
      // -0 is 0 for every comparison; folding it keeps formatFilter/parseFilter a round trip.
      tokens.push({ type: 'number', text, number: n === 0 ? 0 : n, pos: i });
      i = j;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < input.length && isWordPart(input.charCodeAt(j))) j += 1;
      tokens.push({ type: 'word', text: input.slice(i, j), pos: i });
      i = j;
    } else {
      const shown = describeChar(String.fromCodePoint(input.codePointAt(i) as number));
      const hint = '=<>!'.includes(ch) ? ' (SCIM filters use eq, ne, gt, ge, lt, le)' : '';
      fail(`Unexpected character ${shown} ${at(i)}${hint}`);
    }
  }
  tokens.push({ type: 'eof', text: '', pos: input.length });
  return tokens;
}

const ATTR_NAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/;
const URN_PREFIX = /^urn(?::[A-Za-z0-9._$-]+)+$/i;

/** Splits `urn:…:User:name.givenName` at the last colon (URNs contain dots, e.g. `2.0`). */
function wordToPath(word: string, pos: number): { uri?: string; attr: string; sub?: string } {
  const colon = word.lastIndexOf(':');
  const uri = colon >= 0 ? word.slice(0, colon) : undefined;
  if (uri !== undefined && !URN_PREFIX.test(uri)) fail(`Invalid schema URN in attribute path '${word.slice(0, 80)}' ${at(pos)}`);
  const parts = word.slice(colon + 1).split('.');
  const [attr, sub] = parts;
  if (parts.length > 2 || attr === undefined || !ATTR_NAME.test(attr) || (sub !== undefined && !ATTR_NAME.test(sub))) {
    return fail(`Invalid attribute path '${word.slice(0, 80)}' ${at(pos)}`);
  }
  return { ...(uri !== undefined && { uri }), attr, ...(sub !== undefined && { sub }) };
}

const isKeyword = (t: Token, kw: string) => t.type === 'word' && t.text.toLowerCase() === kw;

class Parser {
  private i = 0;
  constructor(
    private readonly tokens: readonly Token[],
    private readonly maxDepth: number,
  ) {}

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (this.i < this.tokens.length - 1) this.i += 1;
    return t;
  }

  private expect(type: TokenType, what: string): Token {
    const t = this.next();
    if (t.type !== type) fail(`Expected ${what} ${at(t.pos)} but found ${describeToken(t)}`);
    return t;
  }

  private enter(depth: number, t: Token): number {
    if (depth + 1 > this.maxDepth) fail(`Filter is nested more than ${this.maxDepth} levels deep ${at(t.pos)}`);
    return depth + 1;
  }

  end(): void {
    const t = this.peek();
    if (t.type !== 'eof') {
      fail(`Expected 'and', 'or' or end of filter ${at(t.pos)} but found ${describeToken(t)}`);
    }
  }

  // `and` binds tighter than `or` (RFC 7644 §3.4.2.2, table 5); both are left-associative and
  // parsed with loops, so long chains cost no stack.
  or(depth: number, inValue: boolean): FilterNode {
    let left = this.and(depth, inValue);
    while (isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.and(depth, inValue) };
    }
    return left;
  }

  private and(depth: number, inValue: boolean): FilterNode {
    let left = this.unary(depth, inValue);
    while (isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.unary(depth, inValue) };
    }
    return left;
  }

  private unary(depth: number, inValue: boolean): FilterNode {
    const t = this.peek();
    if (t.type === '(') {
      this.next();
      const inner = this.or(this.enter(depth, t), inValue);
      this.expect(')', "')'");
      return inner;
    }
    if (isKeyword(t, 'not')) {
      const after = this.peek(1);
      if (after.type === '(') {
        this.next();
        this.next();
        const filter = this.or(this.enter(depth, t), inValue);
        this.expect(')', "')'");
        return { kind: 'not', filter };
      }
      // An attribute called "not" is legal, but `not userName eq "x"` is the likelier mistake.
      if (!(after.type === 'word' && isOperator(after.text)) && after.type !== '[') {
        fail(`Expected '(' after 'not' ${at(after.pos)} but found ${describeToken(after)} (RFC 7644 §3.4.2.2: not (filter))`);
      }
    }
    return this.attrExp(depth, inValue);
  }

  private attrExp(depth: number, inValue: boolean): FilterNode {
    const t = this.next();
    if (t.type !== 'word') {
      return fail(`Expected an attribute name, 'not' or '(' ${at(t.pos)} but found ${describeToken(t)}`);
    }
    const base = wordToPath(t.text, t.pos);
    if (this.peek().type !== '[') return this.comparison(base, t);
    // valFilter cannot contain another valuePath (RFC 7644 §3.4.2.2 ABNF).
    if (inValue) fail(`Value filters cannot be nested ${at(this.peek().pos)}`);
    const { path, subTok } = this.valuePath(base, depth);
    if (!subTok) return { kind: 'valuePath', attr: base, filter: path.valueFilter as FilterNode };
    return this.comparison(path, subTok);
  }

  /** `attr[valFilter]` with an optional `.sub` after it; the caller has seen the `[`. */
  private valuePath(base: AttrPath, depth: number): { path: AttrPath; subTok?: Token } {
    const open = this.next();
    if (base.sub !== undefined) fail(`A value filter must follow a multi-valued attribute, not a sub-attribute ${at(open.pos)}`);
    const valueFilter = this.or(this.enter(depth, open), true);
    const close = this.expect(']', "']' closing the value filter");
    const dot = this.peek();
    if (dot.type !== '.') return { path: { ...base, valueFilter } };
    this.next();
    // subAttr = "." ATTRNAME (RFC 7644 §3.4.2.2), written without spaces.
    const subTok = this.peek();
    if (dot.pos !== close.pos + 1 || subTok.type !== 'word' || subTok.pos !== dot.pos + 1) {
      fail(`Expected a sub-attribute name right after '].' ${at(dot.pos)}`);
    }
    this.next();
    if (!ATTR_NAME.test(subTok.text)) fail(`Invalid sub-attribute name '${subTok.text.slice(0, 80)}' ${at(subTok.pos)}`);
    return { path: { ...base, sub: subTok.text, valueFilter }, subTok };
  }

  private comparison(path: AttrPath, pathTok: Token): FilterNode {
    const opTok = this.next();
    if (opTok.type !== 'word') {
      return fail(`Expected an operator after '${pathTok.text.slice(0, 80)}' ${at(opTok.pos)} but found ${describeToken(opTok)}`);
    }
    const op = opTok.text.toLowerCase();
    if (op === 'pr') return { kind: 'present', path };
    if (!isOperator(op)) {
      return fail(`Unknown operator '${opTok.text.slice(0, 40)}' ${at(opTok.pos)}; expected one of ${[...COMPARE_OPS, 'pr'].join(', ')}`);
    }
    return { kind: 'compare', path, op: op as CompareOp, value: this.value(opTok) };
  }

  private value(opTok: Token): CompareValue {
    const t = this.next();
    if (t.type === 'string') return t.text;
    if (t.type === 'number') return t.number as number;
    if (t.type === 'word') {
      const lower = t.text.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      if (lower === 'null') return null;
      return fail(`Expected a value after '${opTok.text}' ${at(t.pos)} but found ${describeToken(t)}; strings must be quoted`);
    }
    return fail(`Expected a value after '${opTok.text}' ${at(t.pos)} but found ${describeToken(t)}`);
  }

  path(): AttrPath {
    const t = this.expect('word', 'an attribute path');
    const base = wordToPath(t.text, t.pos);
    const path = this.peek().type === '[' ? this.valuePath(base, 0).path : base;
    this.end();
    return path;
  }
}

const OPERATORS = new Set<string>([...COMPARE_OPS, 'pr']);
const isOperator = (word: string) => OPERATORS.has(word.toLowerCase());

function checkedInput(input: unknown, limits: FilterLimits, what: string): { text: string; maxDepth: number } {
  if (typeof input !== 'string') return fail(`${what} must be a string`);
  const maxLength = Number.isFinite(limits?.maxLength) ? limits.maxLength : Infinity;
  if (input.length > maxLength) fail(`${what} is longer than ${maxLength} characters`);
  if (input.trim() === '') fail(`${what} is empty`);
  const requested = Number.isFinite(limits?.maxDepth) ? Math.floor(limits.maxDepth) : HARD_MAX_DEPTH;
  return { text: input, maxDepth: Math.max(0, Math.min(requested, HARD_MAX_DEPTH)) };
}

/**
 * Parses a SCIM filter. Every failure, for any input, is `ScimError` 400 `invalidFilter` with
 * the 1-based position of the problem. Depth counts parentheses, `not (…)` and value filters.
 */
export function parseFilter(input: string, limits: FilterLimits): FilterNode {
  const { text, maxDepth } = checkedInput(input, limits, 'Filter');
  const parser = new Parser(tokenize(text), maxDepth);
  const node = parser.or(0, false);
  parser.end();
  return node;
}

/**
 * Parses an attribute path as used by PATCH (RFC 7644 §3.5.2: `attrPath / valuePath [subAttr]`)
 * and sortBy: `userName`, `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`,
 * `emails[type eq "work"].value`, `members[value eq "…"]`. Failures are 400 `invalidFilter`;
 * callers that need another scimType (PATCH wants `invalidPath`) rethrow.
 */
export function parseAttrPath(input: string, limits: FilterLimits = { maxLength: 4096, maxDepth: 10 }): AttrPath {
  const { text, maxDepth } = checkedInput(input, limits, 'Attribute path');
  return new Parser(tokenize(text), maxDepth).path();
}

/** The canonical text of a path: `uri:attr[filter].sub`. */
export function formatAttrPath(path: AttrPath): string {
  const prefix = path.uri !== undefined ? `${path.uri}:` : '';
  const vf = path.valueFilter ? `[${formatFilter(path.valueFilter)}]` : '';
  const sub = path.sub !== undefined ? `.${path.sub}` : '';
  return `${prefix}${path.attr}${vf}${sub}`;
}

const formatValue = (value: CompareValue): string => JSON.stringify(value);

/**
 * Prints an AST back to filter syntax, adding only the parentheses needed for `parseFilter` to
 * rebuild the same tree (for logs, and the round-trip property test).
 */
export function formatFilter(node: FilterNode): string {
  switch (node.kind) {
    case 'compare':
      return `${formatAttrPath(node.path)} ${node.op} ${formatValue(node.value)}`;
    case 'present':
      return `${formatAttrPath(node.path)} pr`;
    case 'not':
      return `not (${formatFilter(node.filter)})`;
    case 'valuePath':
      return `${formatAttrPath(node.attr)}[${formatFilter(node.filter)}]`;
    case 'and':
    case 'or': {
      // Walk the left spine with a loop: parsed chains are left-deep and can be long.
      const rights: FilterNode[] = [];
      let first: FilterNode = node;
      while ((first.kind === 'and' || first.kind === 'or') && first.kind === node.kind) {
        rights.push(first.right);
        first = first.left;
      }
      const mine = rank(node);
      const parts = [rank(first) < mine ? `(${formatFilter(first)})` : formatFilter(first)];
      for (const right of rights.reverse()) {
        parts.push(rank(right) <= mine ? `(${formatFilter(right)})` : formatFilter(right));
      }
      return parts.join(` ${node.kind} `);
    }
  }
}

const rank = (n: FilterNode) => (n.kind === 'or' ? 1 : n.kind === 'and' ? 2 : 3);
