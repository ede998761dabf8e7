import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { guardedLookup, isAllowedAddress, type WebhookTargetPolicy, WebhookTargetRefused } from '../core/net/webhook-target.js';

/**
 * POSTs one signed webhook and answers the HTTP status. The socket connects only to an address
 * the target policy allows (checked in its own `lookup`, so DNS rebinding is refused at connect
 * time). Redirects are not followed: a signed body is not re-sent somewhere else. A fresh
 * connection per POST (no agent), so no pooled socket outlives the check it passed.
 */
export function postWebhook(url: string, options: { headers: Record<string, string>; body: string; timeoutMs: number; policy: WebhookTargetPolicy }): Promise<number> {
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  // An IP literal skips `lookup`: check it here.
  if (isIP(host) && !isAllowedAddress(host, options.policy)) {
    return Promise.reject(new WebhookTargetRefused(`${host} is not a public address`));
  }
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = send(
      target,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': String(Buffer.byteLength(options.body)) },
        lookup: guardedLookup(options.policy),
        agent: false,
        signal: AbortSignal.timeout(options.timeoutMs),
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}
