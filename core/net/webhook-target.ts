import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { DomainError } from '../errors.js';

/**
 * Where webhooks may go (SSRF guard). A receiver must resolve only to public addresses: loopback,
 * private, link-local (cloud metadata at 169.254.169.254), shared, documentation, multicast and
 * reserved ranges are refused, unless an operator allowlist names them (development). Checked at
 * registration and again when each delivery connects, on the very address the socket uses, so a
 * name that re-resolves to an internal address later (DNS rebinding) is refused too.
 */
export interface WebhookTargetPolicy {
  /** Networks allowed even though they are not public (WEBHOOK_ALLOWED_NETWORKS). */
  allowed: BlockList;
  /** DNS servers to ask instead of the system resolver (WEBHOOK_DNS_SERVERS; split horizon, tests). */
  dnsServers: readonly string[];
}

const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** IPv4-mapped / -compatible IPv6 addresses are judged by the IPv4 address inside. */
function unmapped(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::(?:ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  return { address, family: isIP(address) === 4 ? 'ipv4' : 'ipv6' };
}

export function isPublicAddress(address: string): boolean {
  if (!isIP(address)) return false;
  const a = unmapped(address);
  return !NON_PUBLIC.check(a.address, a.family);
}

export function isAllowedAddress(address: string, policy: WebhookTargetPolicy): boolean {
  if (isPublicAddress(address)) return true;
  const a = unmapped(address);
  return isIP(address) !== 0 && policy.allowed.check(a.address, a.family);
}

/** Parses `10.0.0.0/8,127.0.0.1,::1/128` (an address alone is a host). */
export function createWebhookTargetPolicy(options: { allowedNetworks: readonly string[]; dnsServers?: readonly string[] }): WebhookTargetPolicy {
  const allowed = new BlockList();
  for (const entry of options.allowedNetworks) {
    const [net, bits] = entry.split('/');
    const family = isIP(net ?? '');
    if (!family) throw new Error(`not an address or network: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    allowed.addSubnet(net!, bits === undefined ? (family === 4 ? 32 : 128) : Number(bits), type);
  }
  return { allowed, dnsServers: options.dnsServers ?? [] };
}

export class WebhookTargetRefused extends Error {
  override readonly name = 'WebhookTargetRefused';
}

/** Every address the host name resolves to (an IP literal is itself). */
export async function resolveHost(hostname: string, policy: WebhookTargetPolicy): Promise<LookupAddress[]> {
  const host = hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return [{ address: host, family: isIP(host) }];
  if (policy.dnsServers.length === 0) return dns.lookup(host, { all: true, verbatim: true });
  const resolver = new dns.Resolver({ timeout: 3_000, tries: 2 });
  resolver.setServers([...policy.dnsServers]);
  const settle = async (query: Promise<string[]>, family: number) => {
    try {
      return (await query).map((address) => ({ address, family }));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw err;
    }
  };
  const found = [...(await settle(resolver.resolve4(host), 4)), ...(await settle(resolver.resolve6(host), 6))];
  if (found.length === 0) throw Object.assign(new Error(`${host} does not resolve`), { code: 'ENOTFOUND' });
  return found;
}

/** The addresses a receiver may be reached at; refuses when any of them is not allowed. */
export async function allowedAddresses(hostname: string, policy: WebhookTargetPolicy): Promise<LookupAddress[]> {
  const addresses = await resolveHost(hostname, policy);
  const refused = addresses.find((a) => !isAllowedAddress(a.address, policy));
  if (refused) throw new WebhookTargetRefused(`${hostname} resolves to ${refused.address}, which is not a public address`);
  return addresses;
}

/**
 * Registration: a clear 400 for a URL whose host is (or resolves to) a non-public address. A name
 * that does not resolve yet is accepted (its DNS may be set up after the endpoint): every delivery
 * checks again when it connects.
 */
export async function assertWebhookTarget(url: string, policy: WebhookTargetPolicy): Promise<void> {
  try {
    await allowedAddresses(new URL(url).hostname, policy);
  } catch (err) {
    if (err instanceof WebhookTargetRefused) throw new DomainError(400, 'invalid_request', `url: ${err.message}`);
  }
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for node:http(s) requests: resolves, refuses non-public answers, and hands the socket
 * the checked address, so the connection goes exactly where the check looked.
 */
export function guardedLookup(policy: WebhookTargetPolicy) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    allowedAddresses(hostname, policy).then(
      (addresses) => {
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
