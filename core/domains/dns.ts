import { promises as dns } from 'node:dns';

/**
 * Looks a domain's challenge record up (RFC 1035 TXT; a record's value may be split into several
 * character-strings, which are joined, RFC 7208 §3.3 style). Through the resolvers of DNS_RESOLVER
 * (host:port list) or, when none are named, the system's.
 *   found:  a TXT record with exactly the expected value
 *   absent: the name does not exist, has no TXT records, or none carries the value
 *   error:  the lookup itself failed (timeout, SERVFAIL, refused): says nothing about the record
 */
export type ChallengeLookup = { outcome: 'found' | 'absent' } | { outcome: 'error'; code: string };

export interface DnsLookupOptions {
  /** host:port (or host) of each resolver; empty: the system's. */
  servers: readonly string[];
  timeoutMs?: number;
  tries?: number;
}

const ABSENT_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NXDOMAIN', 'NOTFOUND']);

export async function lookupChallenge(recordName: string, expected: string, options: DnsLookupOptions): Promise<ChallengeLookup> {
  const resolver = new dns.Resolver({ timeout: options.timeoutMs ?? 3_000, tries: options.tries ?? 2 });
  if (options.servers.length > 0) resolver.setServers([...options.servers]);
  try {
    const records = await resolver.resolveTxt(recordName);
    return { outcome: records.some((chunks) => chunks.join('') === expected) ? 'found' : 'absent' };
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'EUNKNOWN';
    return ABSENT_CODES.has(code) ? { outcome: 'absent' } : { outcome: 'error', code };
  }
}

/** DNS_RESOLVER: `10.0.0.53,127.0.0.1:5353` → the list setServers takes. */
export function parseResolverList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
