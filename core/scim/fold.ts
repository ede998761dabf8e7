/**
 * The one case fold for case-insensitive SCIM strings (userName, displayName): NFKC first, so
 * full-width and other compatibility look-alikes collide with their plain forms, then lower case.
 * The uniqueness index and every `eq` lookup use this same function (scim.md "Across IdPs").
 */
export function foldKey(value: string): string {
  return value.normalize('NFKC').toLowerCase();
}

/** Escapes LIKE metacharacters (with `\` as the escape) so `sw "%"` matches a literal percent. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
