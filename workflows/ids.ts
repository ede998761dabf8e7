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
/** One workflow per recertification campaign run (the same id core/campaigns/engine.ts records). */
export const campaignWorkflowId = (tenantId: string, campaignId: string) => `campaign/${tenantId}/${campaignId}`;
/** One Temporal Schedule per scheduled campaign definition, reconciled from its row by the worker. */
export const campaignScheduleId = (tenantId: string, definitionId: string) => `campaign-schedule/${tenantId}/${definitionId}`;
/** The workflow a campaign Schedule starts (Temporal appends the fire time): it launches one run. */
export const scheduledCampaignWorkflowId = (tenantId: string, definitionId: string) => `campaign-launch/${tenantId}/${definitionId}`;
