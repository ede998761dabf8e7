import { type Client, WorkflowUpdateFailedError } from '@temporalio/client';
import { DomainError } from '../core/errors.js';
import { identityWorkflowId } from '../workflows/ids.js';
import { type ResolveStreamInput, resolveStreamUpdate, type StreamResolution } from '../workflows/messages.js';

/**
 * An operator's retry or skip of a parked identity stream: the identity workflow's resolveStream
 * Update (the one `roster stream retry|skip` uses), answered synchronously. Its validator's
 * refusal (nothing parked, a decision in flight) is a 409 `not_parked`.
 */
export async function resolveParkedStream(client: Client, tenantId: string, identityId: string, input: ResolveStreamInput): Promise<StreamResolution> {
  const handle = client.workflow.getHandle(identityWorkflowId(tenantId, identityId));
  try {
    return await handle.executeUpdate(resolveStreamUpdate, { args: [input] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = (err.cause as { message?: string } | undefined)?.message;
      throw new DomainError(409, 'not_parked', cause ?? "this identity's stream is not parked");
    }
    throw err;
  }
}
