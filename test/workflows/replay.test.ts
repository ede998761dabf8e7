import { readdirSync, readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { describe, expect, inject, it } from 'vitest';

const dir = 'test/fixtures/histories';
const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json'));

/**
 * Replays committed histories against today's workflow code: a non-deterministic change to a
 * workflow fails here, before it reaches running workflows. Re-record with
 * `RECORD_HISTORIES=1 npx vitest run test/workflows/identity-lifecycle.test.ts` only when a change
 * is deliberately incompatible (and then version it with patched()).
 */
describe('workflow replay against committed histories', () => {
  it('has a fixture for every workflow type', () => {
    const types = new Set(fixtures.map((f) => (JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')) as { events: { workflowExecutionStartedEventAttributes?: { workflowType?: { name?: string } } }[] }).events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name));
    expect([...types].sort()).toEqual(['approval', 'campaign', 'domainVerification', 'eventDelivery', 'fleetSweep', 'groupLifecycle', 'identityLifecycle', 'maintenance', 'scheduledCampaign']);
  });

  it.each(fixtures)('%s replays deterministically', async (file) => {
    // The CLI/JSON form: the worker converts it with its own protobuf instance.
    const history: unknown = JSON.parse(readFileSync(`${dir}/${file}`, 'utf8'));
    await expect(
      Worker.runReplayHistory({ workflowBundle: { code: inject('workflowCode') } }, history, file),
    ).resolves.toBeUndefined();
  });
});
