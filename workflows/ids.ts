/** Every workflow id Roster uses: tenant and entity ids only, never PII or secrets. */
export const identityWorkflowId = (tenantId: string, userId: string) => `identity/${tenantId}/${userId}`;
export const groupWorkflowId = (tenantId: string, groupId: string) => `group/${tenantId}/${groupId}`;
/** One delivery workflow per event subject, so webhooks for one identity leave in emission order. */
export const eventDeliveryWorkflowId = (tenantId: string, subjectType: string, subjectId: string) => `delivery/${tenantId}/${subjectType}/${subjectId}`;
/** One approval workflow per change request. */
export const approvalWorkflowId = (tenantId: string, requestId: string) => `approval/${tenantId}/${requestId}`;
