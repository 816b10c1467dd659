export { startConsulTestServer } from './server.js';
export { consulTestServer, consulUnderTest, ConsulControl, type CheckStatus, type ConsulUnderTest, type InstanceOptions } from './control.js';
export type { ConsulTestServer, ConsulTestServerOptions } from './server.js';
export type { ConsulFaults } from './faults.js';
export type { RecordedRequest } from './requestLog.js';
