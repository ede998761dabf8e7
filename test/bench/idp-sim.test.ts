import { sql } from 'slonik';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDialect } from '../../scripts/lib/bench-idp.js';
import { entra, okta } from '../../scripts/lib/idp-sim.js';
import { startStack, type TestStack } from '../helpers/stack.js';

/**
 * The IdP run of `npm run bench` counts every refused request as an error and compares SCIM reads
 * with its simulated IdP's model. That is only meaningful if the simulator's requests are ones
 * Roster accepts and its model moves the way Roster does: here the whole run (initial sync, group
 * push, both churn rounds, read-back) goes through the real app one request at a time, where
 * nothing can race, for each dialect.
 */

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.close());

const config = { users: 60, groups: 4, groupsPerUser: 2, concurrency: 1, batchSize: 16, seed: 7, drainWaitSec: 1, ceilingMinSec: 1 };

describe.each([okta, entra])('IdP simulator, $name dialect, one request at a time', (dialect) => {
  it('every request is accepted and SCIM reads equal the model', async () => {
    const t = await stack.createTenant();
    const result = await runDialect({
      dialect: dialect.name,
      apiUrl: stack.scimUrl.replace(/\/scim\/v2$/, ''),
      token: t.token,
      tenantId: t.id,
      ownerUrl: stack.databaseUrl,
      config,
      worker: false,
      measure: async (fn) => ({ result: await fn(), cpu: null }),
      say: () => {},
    });
    const errors = result.phases.flatMap((p) => p.errorSamples);
    expect(errors).toEqual([]);
    expect(result.errorsTotal).toBe(0);
    expect(result.verification.samples).toEqual([]);
    expect(result.verification).toMatchObject({ usersChecked: 60, groupsChecked: 4, mismatches: 0, missingMembers: 0, extraMembers: 0 });

    // The phases did what they say: 60 lookups + 60 creates, every planned member pushed.
    const [sync, , push] = result.phases;
    expect(sync!.byKind['lookup user']!.requests).toBe(60);
    expect(sync!.byKind['create user']!.requests).toBe(60);
    expect(push!.memberAdds).toBe(120);
    const kinds = new Set(result.phases.flatMap((p) => Object.keys(p.byKind)));
    for (const k of ['deactivate user', 'reactivate user', 'add members', 'remove members', 'rename group', 'delete group']) expect(kinds).toContain(k);
    expect(kinds.has('delete user')).toBe(dialect.name === 'entra');
    expect(kinds.has('push now (replace members)')).toBe(dialect.name === 'okta');

    // And the database agrees with what the read-back saw: the model's memberships are the rows.
    const rows = await stack.owner.oneFirst(sql.unsafe`
      SELECT count(*)::int FROM group_members gm JOIN users u ON u.id = gm.user_id
       WHERE gm.tenant_id = ${t.id} AND u.scim_deleted_at IS NULL`);
    expect(rows).toBe(result.verification.membershipsExpected);
  });
});
