import type { paths } from '../../api/schema';

/** An agent as `GET /agents/{agent}` answers it. */
export type AgentDetails = paths['/agents/{agent}']['get']['responses'][200]['content']['application/json'];

/** An agent's configuration as the API takes it. */
export type AgentConfig = NonNullable<NonNullable<paths['/agents/{agent}']['patch']['requestBody']>['content']['application/json']['config']>;

/** A memory file in the agent's listing. */
export type MemoryFileSummary = paths['/agents/{agent}/memory']['get']['responses'][200]['content']['application/json']['files'][number];

/** A memory layer the console edits. */
export type MemoryLayer = MemoryFileSummary['layer'];

/** A grant on an agent. */
export type Grant = paths['/agents/{agent}/grants']['get']['responses'][200]['content']['application/json']['grants'][number];

/** An agent token (never its secret). */
export type AgentToken = paths['/agents/{agent}/tokens']['get']['responses'][200]['content']['application/json']['tokens'][number];

/** A capability an agent token's ceiling may list. */
export type TokenCapability = AgentToken['ceiling'][number];
