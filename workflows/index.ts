export { identityLifecycle } from './identity-lifecycle.js';
export { groupLifecycle } from './group-lifecycle.js';
