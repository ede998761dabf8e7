import { submitChange } from '../../activities/approval-client.js';
import { changeEffects } from '../../activities/workflow-starter.js';
import { approvalDepsFromConfig, type SubmitResult } from '../../core/approvals/service.js';
import type { ChangeKind } from '../../core/approvals/schema.js';
import { loadSecretsKey } from '../../core/secret-box.js';
import { type CliDeps, print, serviceContext } from './deps.js';

/**
 * A CLI change is a change request like any other (issue 8): it applies at once only when the
 * tenant's policy needs no approver, or with `--approve-as-operator` for a tenant that has no
 * portal users yet (audited as operator approval); otherwise it waits for the tenant's approvers.
 */
export async function requestChange(deps: CliDeps, tenantId: string, kind: ChangeKind, payload: unknown, opts: { approveAsOperator?: boolean | undefined; reason?: string | undefined }): Promise<SubmitResult> {
  const db = await deps.db();
  return deps.withTemporal((client) => {
    // With the follow-up effects (a claimed domain's verification, released leavers' workflows).
    const engine = { ...approvalDepsFromConfig(deps.config, loadSecretsKey(deps.config)), ...(client ? changeEffects(client, deps.config.TEMPORAL_TASK_QUEUE) : {}) };
    return submitChange(db, client, serviceContext(deps, tenantId), engine, { kind, payload, reason: opts.reason, approveAsOperator: opts.approveAsOperator });
  });
}

/** What a CLI command prints for a request that waits. */
export function waiting(r: SubmitResult): { requestId: string; state: string; approvalsNeeded: number; summary: string } {
  return { requestId: r.request.id, state: r.request.state, approvalsNeeded: r.request.approvalsNeeded, summary: r.request.description.summary };
}

/** Prints a waiting request: its id and how to follow it (`roster approval show`). */
export function printWaiting(json: boolean, r: SubmitResult, tenantSlug: string): void {
  const follow = `roster approval show ${r.request.id} --tenant ${tenantSlug}`;
  print(json, { ...waiting(r), follow }, () => `change request ${r.request.id} waits for approval (${r.request.approvalsNeeded} needed): ${r.request.description.summary}
follow it with: ${follow}`);
}
