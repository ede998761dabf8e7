import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCursor, encodeCursor, eventIdFor } from '../../core/repositories/events.js';
import { DEV_KEY_FILE, loadSecretsKey, openSecret, sealSecret } from '../../core/secret-box.js';
import { signPayload, verifySignature } from '../../core/webhook-signature.js';

const secret = 'whsec_current-secret-for-tests';
const oldSecret = 'whsec_previous-secret-for-tests';
const body = JSON.stringify({ id: 'e1', type: 'user.provisioned', data: { a: 1 } });
const now = 1_764_400_000;

describe('webhook signatures', () => {
  it('signs HMAC-SHA256 over "<t>.<body>" and verifies', () => {
    const header = signPayload(body, secret, now);
    const expected = createHmac('sha256', secret).update(`${now}.${body}`).digest('hex');
    expect(header).toBe(`t=${now},v1=${expected}`);
    expect(verifySignature(header, body, secret, 300, now)).toEqual({ ok: true, timestamp: now });
  });

  it('rejects a tampered body', () => {
    const header = signPayload(body, secret, now);
    expect(verifySignature(header, body.replace('"a":1', '"a":2'), secret, 300, now)).toEqual({ ok: false, reason: 'no_matching_signature' });
  });

  it('rejects the wrong secret', () => {
    const header = signPayload(body, secret, now);
    expect(verifySignature(header, body, 'whsec_someone-else', 300, now).ok).toBe(false);
  });

  it('rejects a timestamp outside the tolerance (replay), in both directions', () => {
    const header = signPayload(body, secret, now - 301);
    expect(verifySignature(header, body, secret, 300, now)).toEqual({ ok: false, reason: 'timestamp_out_of_tolerance' });
    expect(verifySignature(signPayload(body, secret, now + 301), body, secret, 300, now).ok).toBe(false);
    expect(verifySignature(signPayload(body, secret, now - 299), body, secret, 300, now).ok).toBe(true);
  });

  it('a changed timestamp breaks the signature (it is inside the MAC)', () => {
    const header = signPayload(body, secret, now);
    const forged = header.replace(`t=${now}`, `t=${now + 1}`);
    expect(verifySignature(forged, body, secret, 300, now).ok).toBe(false);
  });

  it('during rotation the header carries two v1 values and either secret verifies', () => {
    const header = signPayload(body, [secret, oldSecret], now);
    expect(header.match(/v1=/g)).toHaveLength(2);
    expect(verifySignature(header, body, secret, 300, now).ok).toBe(true);
    expect(verifySignature(header, body, oldSecret, 300, now).ok).toBe(true);
    expect(verifySignature(header, body, 'whsec_third', 300, now).ok).toBe(false);
  });

  it('rejects malformed headers and ignores unknown schemes', () => {
    for (const bad of [undefined, '', 'v1=abc', `t=${now}`, `t=x,v1=${'0'.repeat(64)}`, 'garbage', `t=${now},t=${now},v1=${'0'.repeat(64)}`]) {
      expect(verifySignature(bad, body, secret, 300, now)).toEqual({ ok: false, reason: 'malformed' });
    }
    const header = `${signPayload(body, secret, now)},v2=whatever`;
    expect(verifySignature(header, body, secret, 300, now).ok).toBe(true);
  });
});

describe('secret box (AES-256-GCM)', () => {
  const key = randomBytes(32);

  it('round-trips and binds the associated data', () => {
    const box = sealSecret(key, 'whsec_abc', 'webhook:t:e1');
    expect(box.includes(Buffer.from('whsec_abc'))).toBe(false);
    expect(openSecret(key, box, 'webhook:t:e1')).toBe('whsec_abc');
    expect(() => openSecret(key, box, 'webhook:t:e2')).toThrow();
    expect(() => openSecret(randomBytes(32), box, 'webhook:t:e1')).toThrow();
    const flipped = Buffer.from(box);
    flipped[20] = flipped[20]! ^ 1;
    expect(() => openSecret(key, flipped, 'webhook:t:e1')).toThrow();
  });

  it('uses a fresh nonce per encryption', () => {
    expect(sealSecret(key, 'same', 'aad').equals(sealSecret(key, 'same', 'aad'))).toBe(false);
  });

  it('requires SECRETS_ENCRYPTION_KEY in production; creates a 0600 key file once in development', () => {
    const dir = mkdtempSync(join(tmpdir(), 'roster-key-'));
    expect(() => loadSecretsKey({ NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: undefined, DATA_DIR: dir })).toThrow(/required in production/);
    const configured = randomBytes(32);
    expect(loadSecretsKey({ NODE_ENV: 'production', SECRETS_ENCRYPTION_KEY: configured.toString('base64'), DATA_DIR: dir }).equals(configured)).toBe(true);
    const first = loadSecretsKey({ NODE_ENV: 'development', SECRETS_ENCRYPTION_KEY: undefined, DATA_DIR: dir });
    const second = loadSecretsKey({ NODE_ENV: 'test', SECRETS_ENCRYPTION_KEY: undefined, DATA_DIR: dir });
    expect(first.equals(second)).toBe(true);
    expect(statSync(join(dir, DEV_KEY_FILE)).mode & 0o777).toBe(0o600);
  });
});

describe('event ids and feed cursors', () => {
  it('derives a stable RFC 9562 v8 UUID from workflow id + step', () => {
    const id = eventIdFor('identity/t/u', '3:user.provisioned');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdFor('identity/t/u', '3:user.provisioned')).toBe(id);
    expect(eventIdFor('identity/t/u', '4:user.provisioned')).not.toBe(id);
    expect(eventIdFor('identity/t/u2', '3:user.provisioned')).not.toBe(id);
  });

  it('cursors round-trip and anything else is rejected', () => {
    for (const p of [0, 1, 42, 9_007_199_254_740_991]) expect(decodeCursor(encodeCursor(p))).toBe(p);
    for (const bad of ['', 'x', 'cDE=', Buffer.from('p01').toString('base64url'), Buffer.from('q1').toString('base64url'), Buffer.from('p-1').toString('base64url'), 'not a cursor!']) {
      expect(() => decodeCursor(bad), bad).toThrow(/cursor/);
    }
  });
});
