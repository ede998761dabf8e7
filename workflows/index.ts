export { identityLifecycle } from './identity-lifecycle.js';
export { groupLifecycle } from './group-lifecycle.js';
export { eventDelivery } from './event-delivery.js';
export { maintenance } from './maintenance.js';
export { domainVerification } from './domain-verification.js';
export { fleetSweep } from './fleet-sweep.js';
export { approval } from './approval.js';
