// The audit log lives in core/audit/ (schema, queries, service). This module keeps the names the
// rest of the code base has always imported from here.
export { Actor, AuditEventInput } from '../audit/schema.js';
export {
  appendAudit,
  auditInsert,
  AuditEventRow,
  ChainVerificationRow as ChainVerification,
  listAudit,
  sealAuditChains,
  verifyAuditChain,
} from '../audit/queries.js';
