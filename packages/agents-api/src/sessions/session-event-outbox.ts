import type { EventChannel } from '../runner/event-channel';

/**
 * Sends a stream's events to its channel in order, holding them while a
 * write behind is in flight (tool results written beside the next model
 * call, `holdingLastAnswer({ writeBehind })`): the results' `message` events
 * and every event after them wait until the write has landed, so a consumer
 * is never sent a message whole that is not stored, nor anything out of
 * order. If the write fails, what waited is dropped, and so is every later
 * event (the run's next write throws the failure and it ends `failed`). See
 * docs/decisions/2026-11-30-durable-streaming.md, "2026-12-01, stop 21".
 */
export class EventOutbox<Entry> {
  readonly #channel: EventChannel<Entry>;
  readonly #waiting: Entry[] = [];
  #write: Promise<boolean> | undefined;
  #draining: Promise<void> | undefined;
  #failed = false;

  constructor(channel: EventChannel<Entry>) {
    this.#channel = channel;
  }

  /** Sends the entry, or queues it behind a write in flight; drops it after a write behind failed. */
  async send(entry: Entry): Promise<void> {
    if (this.#failed) return;
    if (this.#draining) this.#waiting.push(entry);
    else await this.#channel.push(entry);
  }

  /**
   * Sends the entry of a message written behind, and every later entry,
   * once `write` has stored it; if it did not, drops them and calls `lost`.
   */
  async hold(entry: Entry, write: Promise<boolean>, lost: () => void): Promise<void> {
    if (this.#failed) return;
    // Another write's events are still going out: they go first (the consumer paces the run here).
    if (this.#draining && this.#write !== write) await this.drained();
    this.#waiting.push(entry);
    if (this.#draining) return;
    this.#write = write;
    this.#draining = write.then(async (stored) => {
      if (stored) {
        for (let next = this.#waiting.shift(); next !== undefined; next = this.#waiting.shift()) await this.#channel.push(next);
      } else {
        this.#waiting.length = 0;
        this.#failed = true;
        lost();
      }
      this.#write = undefined;
      this.#draining = undefined;
    });
  }

  /** Resolves once no write behind holds events back. */
  async drained(): Promise<void> {
    while (this.#draining) await this.#draining;
  }
}
