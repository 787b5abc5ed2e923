import { createInMemoryMemoryStore } from './in-memory-memory-store';
import { describeMemoryStoreContract } from './memory-store.contract';

describeMemoryStoreContract('in-memory memory store', ({ now }) => createInMemoryMemoryStore({ now }));
