/** Every workflow id Roster uses: tenant and entity ids only, never PII or secrets. */
export const identityWorkflowId = (tenantId: string, userId: string) => `identity/${tenantId}/${userId}`;
export const groupWorkflowId = (tenantId: string, groupId: string) => `group/${tenantId}/${groupId}`;
/** One delivery workflow per event subject, so webhooks for one identity leave in emission order. */
export const eventDeliveryWorkflowId = (tenantId: string, subjectType: string, subjectId: string) => `delivery/${tenantId}/${subjectType}/${subjectId}`;
/** The maintenance schedule (pruning, audit sizes): one per task queue, created by whichever worker starts first. */
export const maintenanceScheduleId = (taskQueue: string) => `maintenance/${taskQueue}`;
/** One verification workflow per claimed domain, started when the claim is applied. */
export const domainWorkflowId = (tenantId: string, domainId: string) => `domain/${tenantId}/${domainId}`;
/** The fleet's one recurring sweep (domain re-checks, SSO certificate expiry), per task queue. */
export const fleetSweepScheduleId = (taskQueue: string) => `fleet-sweep/${taskQueue}`;
/** One approval workflow per change request. */
export const approvalWorkflowId = (tenantId: string, requestId: string) => `approval/${tenantId}/${requestId}`;
