import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isAllowedAddress, type WebhookTargetPolicy, WebhookTargetRefused } from './webhook-target.js';

/**
 * GETs a document from a tenant-supplied URL (an OIDC discovery document) through the SSRF guard
 * webhooks use: the socket connects only to an address the policy allows, checked in its own
 * `lookup` (so DNS rebinding is refused at connect time). No redirects, a deadline, a size cap.
 */
export function guardedGet(url: string, options: { policy: WebhookTargetPolicy; timeoutMs: number; maxBytes: number; accept?: string }): Promise<{ status: number; contentType: string; body: string }> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !isAllowedAddress(host, options.policy)) {
    return Promise.reject(new WebhookTargetRefused(`${host} is not a public address`));
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'GET',
        headers: { accept: options.accept ?? 'application/json' },
        lookup: guardedLookup(options.policy),
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > options.maxBytes) {
            req.destroy(new Error(`the response is larger than ${options.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end();
  });
}
