/** Every workflow id Roster uses: tenant and entity ids only, never PII or secrets. */
export const identityWorkflowId = (tenantId: string, userId: string) => `identity/${tenantId}/${userId}`;
export const groupWorkflowId = (tenantId: string, groupId: string) => `group/${tenantId}/${groupId}`;
