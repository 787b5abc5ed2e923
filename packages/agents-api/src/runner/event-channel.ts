/**
 * Hands a producer's values to one `for await` consumer, in order: `push`
 * resolves once the consumer has taken the value and asked for the next, so a
 * slow consumer slows the producer instead of growing a buffer. With
 * `bufferBeforeConsumer` n, a producer that starts before its consumer has
 * begun to iterate runs up to n values ahead; once the consumer is there, it
 * is paced as usual. After the consumer leaves (`break`, `return`, a throw),
 * or is {@link abandon}ed, pushes resolve at once.
 */
export class EventChannel<T> {
  readonly #bufferBeforeConsumer: number;
  #consuming = false;
  readonly #queue: { readonly value: T; readonly taken: () => void }[] = [];
  #wake: (() => void) | undefined;
  #closed = false;
  #failure: { readonly error: unknown } | undefined;
  #consumerGone = false;
  #drained = false;

  constructor(options: { readonly bufferBeforeConsumer?: number } = {}) {
    this.#bufferBeforeConsumer = options.bufferBeforeConsumer ?? 0;
  }

  push(value: T): Promise<void> {
    if (this.#consumerGone || this.#closed) return Promise.resolve();
    if (!this.#consuming && this.#queue.length < this.#bufferBeforeConsumer) {
      this.#queue.push({ value, taken: noop });
      this.#wakeConsumer();
      return Promise.resolve();
    }
    return new Promise<void>((taken) => {
      this.#queue.push({ value, taken });
      this.#wakeConsumer();
    });
  }

  /** Ends the stream; with `error`, the consumer's loop throws it after the values already taken. */
  close(error?: { readonly error: unknown }): void {
    this.#closed = true;
    this.#failure = error;
    this.#wakeConsumer();
  }

  /** For a consumer that will never come (a stream cancelled or refused before it was read): pushes resolve at once from now on. */
  abandon(): void {
    this.#consumerGone = true;
    this.#release();
  }

  /** Whether the consumer has stopped iterating. */
  get consumerGone(): boolean {
    return this.#consumerGone;
  }

  /**
   * Whether the consumer stopped before the end: it left (`break`, a throw)
   * or was abandoned before it had taken every value of a closed channel.
   * Only such a consumer needs its producer stopped; aborting a run that has
   * ended costs an `AbortError` and its listeners for nothing.
   */
  get consumerLeftEarly(): boolean {
    return this.#consumerGone && !this.#drained;
  }

  async *values(): AsyncGenerator<T, void> {
    this.#consuming = true;
    try {
      for (;;) {
        while (this.#queue.length === 0 && !this.#closed) await new Promise<void>((wake) => (this.#wake = wake));
        const pending = this.#queue.shift();
        if (!pending) {
          this.#drained = true;
          break;
        }
        try {
          yield pending.value;
        } finally {
          // Taken whether the consumer asks for more or leaves here: the producer must not hang.
          pending.taken();
        }
      }
      if (this.#failure) throw this.#failure.error;
    } finally {
      this.#consumerGone = true;
      this.#release();
    }
  }

  /** Drops what waits untaken and lets its producers go on. */
  #release(): void {
    for (const pending of this.#queue.splice(0)) pending.taken();
  }

  #wakeConsumer(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

function noop(): void {}
