import { hash, verify } from '@node-rs/argon2';
import { dictionary } from '@zxcvbn-ts/language-common';
import { DomainError } from '../errors.js';
import { PASSWORD_MAX, PASSWORD_MIN } from './schema.js';

/** argon2id with OWASP's second recommended setting (19 MiB, 2 passes, 1 lane). */
// `algorithm: 2` is Algorithm.Argon2id (a const enum, which isolatedModules cannot import).
const ARGON2 = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export async function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2);
}

/** A hash of nothing anyone knows: unknown accounts are verified against it so they take as long. */
let dummyHash: Promise<string> | undefined;

/** Checks a password against a stored hash, or against a dummy when there is none (same cost). */
export async function verifyPassword(stored: string | null, password: string): Promise<boolean> {
  if (!stored) {
    dummyHash ??= hashPassword(`dummy-${Math.random()}-${Date.now()}`);
    await verify(await dummyHash, password).catch(() => false);
    return false;
  }
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

let common: Set<string> | undefined;
function commonPasswords(): Set<string> {
  common ??= new Set(dictionary['passwords-common'].map((p) => p.toLowerCase()));
  return common;
}

/** Why a password is refused, in words the person can act on; null when it is acceptable. */
export function passwordProblem(password: string, email: string): string | null {
  if (password.length < PASSWORD_MIN) return `The password is too short: use at least ${PASSWORD_MIN} characters.`;
  if (password.length > PASSWORD_MAX) return `The password is too long: use at most ${PASSWORD_MAX} characters.`;
  const lower = password.toLowerCase();
  if (commonPasswords().has(lower)) return 'This password is on a list of commonly used passwords: choose another one.';
  const local = email.split('@')[0]?.toLowerCase() ?? '';
  if (local.length >= 3 && lower.includes(local)) return 'The password must not contain your e-mail address.';
  return null;
}

export function assertPasswordAcceptable(password: string, email: string): void {
  const problem = passwordProblem(password, email);
  if (problem) throw new DomainError(400, 'weak_password', problem);
}
