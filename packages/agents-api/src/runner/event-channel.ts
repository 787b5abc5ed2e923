/**
 * Hands a producer's values to one `for await` consumer, one at a time:
 * `push` resolves once the consumer has taken the value and asked for the
 * next, so a slow consumer slows the producer instead of growing a buffer.
 * After the consumer leaves (`break`, `return`, a throw), pushes resolve at once.
 */
export class EventChannel<T> {
  #pending: { readonly value: T; readonly taken: () => void } | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #failure: { readonly error: unknown } | undefined;
  #consumerGone = false;

  push(value: T): Promise<void> {
    if (this.#consumerGone || this.#closed) return Promise.resolve();
    return new Promise<void>((taken) => {
      this.#pending = { value, taken };
      this.#wakeConsumer();
    });
  }

  /** Ends the stream; with `error`, the consumer's loop throws it after the values already taken. */
  close(error?: { readonly error: unknown }): void {
    this.#closed = true;
    this.#failure = error;
    this.#wakeConsumer();
  }

  /** Whether the consumer has stopped iterating. */
  get consumerGone(): boolean {
    return this.#consumerGone;
  }

  async *values(): AsyncGenerator<T, void> {
    try {
      for (;;) {
        while (!this.#pending && !this.#closed) await new Promise<void>((wake) => (this.#wake = wake));
        const pending = this.#pending;
        if (!pending) break;
        try {
          yield pending.value;
        } finally {
          // Taken whether the consumer asks for more or leaves here: the producer must not hang.
          this.#pending = undefined;
          pending.taken();
        }
      }
      if (this.#failure) throw this.#failure.error;
    } finally {
      this.#consumerGone = true;
      this.#pending?.taken();
      this.#pending = undefined;
    }
  }

  #wakeConsumer(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}
