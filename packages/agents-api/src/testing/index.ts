// `@data-machine/agents-api/testing`: the contract suites a store must pass.
// They register vitest suites, so this entry needs vitest; the main entry never imports it.
export { describeMemoryStoreContract } from '../memory/memory-store.contract';
export type { MemoryStoreContractContext } from '../memory/memory-store.contract';
export { describeTranscriptStoreContract } from '../transcripts/transcript-store.contract';
export type { TranscriptStoreContractContext } from '../transcripts/transcript-store.contract';
