import type { Client } from '@temporalio/client';
import { changeEffects } from '../activities/workflow-starter.js';
import { type ApprovalDeps, approvalDepsFromConfig } from '../core/approvals/service.js';
import type { Config } from '../core/config.js';

/**
 * The approval engine's deps for an API surface (portal, app API): the config's, plus a starter for
 * the follow-up workflows a change kicks off when it applies inline (a claimed domain's
 * verification, released leavers). Without Temporal the fleet sweep and the held workflows' own
 * re-checks pick those up later.
 */
export function approvalEngineDeps(config: Config, secretKey: Buffer, temporal?: Client): ApprovalDeps {
  return {
    ...approvalDepsFromConfig(config, secretKey),
    ...(temporal ? changeEffects(temporal, config.TEMPORAL_TASK_QUEUE) : {}),
  };
}
