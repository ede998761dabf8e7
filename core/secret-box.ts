import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';

/**
 * Authenticated encryption for secrets Roster must be able to use again later (webhook signing
 * keys), as opposed to bearer secrets, which are only compared and so are stored hashed.
 *
 * Format: version byte (1) ‖ 12-byte random nonce ‖ ciphertext ‖ 16-byte GCM tag, AES-256-GCM.
 * The associated data names what the secret belongs to (e.g. `webhook:<tenant>:<endpoint>`), so a
 * ciphertext copied onto another row does not decrypt.
 */
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const SECRET_KEY_BYTES = 32;

export function sealSecret(key: Buffer, plaintext: string, associatedData: string): Buffer {
  assertKey(key);
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), nonce, body, cipher.getAuthTag()]);
}

/** Throws when the key, the associated data or a single byte of the box is wrong. */
export function openSecret(key: Buffer, box: Uint8Array, associatedData: string): string {
  assertKey(key);
  const buf = Buffer.from(box);
  if (buf.length < 1 + NONCE_BYTES + TAG_BYTES || buf[0] !== VERSION) throw new Error('secret box: unknown format');
  const nonce = buf.subarray(1, 1 + NONCE_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(Buffer.from(associatedData, 'utf8'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(buf.subarray(1 + NONCE_BYTES, buf.length - TAG_BYTES)), decipher.final()]).toString('utf8');
}

function assertKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) throw new Error('secret box: the key must be 32 bytes');
}

/** Parses SECRETS_ENCRYPTION_KEY (base64 or base64url of exactly 32 bytes); null when malformed. */
export function decodeSecretsKey(text: string): Buffer | null {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) return null;
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  return key.length === SECRET_KEY_BYTES ? key : null;
}

export const DEV_KEY_FILE = 'secrets-encryption.key';

/**
 * The key that encrypts stored secrets. Production must set SECRETS_ENCRYPTION_KEY (the api and
 * worker refuse to start without it; the migrate job and the CLI's other commands do not need it).
 * In development and test a random key is created once in DATA_DIR (mode 0600) and reused, so
 * secrets survive restarts of `npm start` without a well-known key ever encrypting anything.
 * Every process that shares a database must share the key (api, worker, CLI).
 */
export function loadSecretsKey(config: Pick<Config, 'NODE_ENV' | 'SECRETS_ENCRYPTION_KEY' | 'DATA_DIR'>): Buffer {
  if (config.SECRETS_ENCRYPTION_KEY) {
    const key = decodeSecretsKey(config.SECRETS_ENCRYPTION_KEY);
    if (!key) throw new Error('SECRETS_ENCRYPTION_KEY must be the base64 of 32 bytes');
    return key;
  }
  if (config.NODE_ENV === 'production') {
    throw new Error('SECRETS_ENCRYPTION_KEY is required in production (base64 of 32 random bytes: `openssl rand -base64 32`)');
  }
  return developmentKey(config.DATA_DIR);
}

function developmentKey(dataDir: string): Buffer {
  const file = join(dataDir, DEV_KEY_FILE);
  const existing = readKeyFile(file);
  if (existing) return existing;
  mkdirSync(dataDir, { recursive: true });
  // Write a temporary file, then link it into place: link fails if another process won the race,
  // and nobody ever reads a half-written key.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${randomBytes(SECRET_KEY_BYTES).toString('base64')}\n`);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(tmp);
  }
  const key = readKeyFile(file);
  if (!key) throw new Error(`${file} does not hold a valid key; delete it to create a new one`);
  return key;
}

function readKeyFile(file: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const key = decodeSecretsKey(text);
  if (!key) throw new Error(`${file} does not hold a valid key; delete it to create a new one`);
  return key;
}
