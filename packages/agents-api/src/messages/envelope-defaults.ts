import { randomBytes } from 'node:crypto';

/**
 * This process's id prefix: 128 random bits, so that ids made by different
 * processes (or module copies) never meet. A counter makes each id unique
 * within the process; a UUID per message cost more than the rest of the
 * message. No id is a secret (stores check owners, not ids), but ids do show
 * which messages one process made and how many it made in between: a host
 * that minds passes its own `generateId`.
 */
const processPrefix = `msg_${randomBytes(16).toString('hex')}_`;
let counter = 0;

/**
 * A new message id: `msg_`, this process's random prefix, and a counter in
 * base 36 (`msg_5f0c…e21a_1b`). Unique across processes.
 */
export function newMessageId(): string {
  counter += 1;
  return processPrefix + counter.toString(36);
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
