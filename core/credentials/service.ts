import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { findUserIdByUserName, type IssuedCredential, issuePersonalToken } from '../repositories/credentials.js';
import type { ServiceContext } from '../shared/service-context.js';
import { CreatePersonalTokenBody } from './schema.js';

/**
 * A personal API token for a live user named by userName (how an operator knows them); shown once,
 * audited by the credentials repository in the same transaction.
 */
export async function issuePersonalTokenForUserName(
  tx: Tx,
  ctx: ServiceContext,
  input: { userName: string } & CreatePersonalTokenBody,
): Promise<IssuedCredential> {
  const { userName, ...rest } = input;
  const body = CreatePersonalTokenBody.parse(rest);
  const userId = await findUserIdByUserName(tx, ctx.tenantId, userName);
  if (!userId) throw new DomainError(404, 'not_found', `no live user "${userName}" in this tenant`);
  return issuePersonalToken(tx, ctx.tenantId, { userId, ...body }, ctx.actor);
}
