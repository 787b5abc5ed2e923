import { randomFillSync } from 'node:crypto';
import { startupSnapshot } from 'node:v8';

/**
 * Random bytes for message ids, drawn in batches: one `randomFillSync` per
 * 256 ids instead of one per id keeps an id well under a microsecond (see
 * the loop-cost decision note). Each id takes 16 bytes no other id ever
 * gets, so ids say nothing about which process made them or how many it
 * made, and they are unguessable.
 */
const idBytes = 16;
const pool = Buffer.alloc(idBytes * 256);
let poolOffset = pool.length;

// Bytes drawn before a startup snapshot would be handed out again by every
// process started from it: a process built into a snapshot starts from an
// empty pool. (A host that clones a running process by other means, a VM
// snapshot say, must pass its own `generateId`.)
if (startupSnapshot?.isBuildingSnapshot?.()) {
  startupSnapshot.addDeserializeCallback(() => {
    poolOffset = pool.length;
  });
}

/** A new message id: `msg_` and 128 random bits in hex (`msg_5f0c…e21a`). */
export function newMessageId(): string {
  if (poolOffset === pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const start = poolOffset;
  poolOffset += idBytes;
  return `msg_${pool.toString('hex', start, poolOffset)}`;
}

// '000' to '999': the milliseconds of a timestamp by lookup.
const milliseconds = Array.from({ length: 1000 }, (_, value) => String(value).padStart(3, '0'));
let cachedSecond = Number.NaN;
let secondPrefix = '';

/**
 * The current instant in ISO 8601 UTC, as `Date.prototype.toISOString`
 * writes it (`2026-11-23T10:00:00.000Z`). The part up to the seconds is
 * formatted once per second and the milliseconds looked up: formatting a
 * date was the costliest part of making a message.
 */
export function isoNow(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    // Everything but the milliseconds and the 'Z': 'YYYY-MM-DDTHH:MM:SS.' (or '+YYYYYY-…' far out).
    secondPrefix = new Date(second * 1000).toISOString().slice(0, -4);
  }
  return `${secondPrefix}${milliseconds[now - second * 1000] as string}Z`;
}
