import { createInMemoryTranscriptStore } from './in-memory-transcript-store';
import { describeTranscriptStoreContract } from './transcript-store.contract';

describeTranscriptStoreContract('in-memory transcript store', ({ now }) => createInMemoryTranscriptStore({ now }));
