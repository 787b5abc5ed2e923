// `@data-machine/agents-api/store-kit`: what an author of a MemoryStore or a
// TranscriptStore needs to behave like the stores we ship: the same validation,
// the same errors and the same content hash. Callers of a store need none of it,
// so it stays out of the main entry. Prove a store with the suites in `./testing`.
export {
  checkMemoryWrite,
  isMemoryPathUnder,
  memoryConflict,
  memoryContentHash,
  parseMemoryListQuery,
  parseMemoryScope,
  parseMemoryUser,
} from '../memory/memory-store';
export { parseTranscriptInput, sessionNotFound } from '../transcripts/transcript-store';
