export { identityLifecycle } from './identity-lifecycle.js';
export { groupLifecycle } from './group-lifecycle.js';
export { eventDelivery } from './event-delivery.js';
export { approval } from './approval.js';
