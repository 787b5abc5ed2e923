import { DataMachineError, type DataMachineErrorCode, type DataMachineErrorOptions } from '../errors';

/**
 * A failed handler call. `retryable` tells the executor whether trying the
 * same call again may pass (a timeout, a 5xx) or never will (a 4xx, a refused
 * address, a malformed feed): it retries the first kind and fails the job on
 * the second.
 */
export class HandlerError extends DataMachineError {
  readonly retryable: boolean;

  constructor(code: DataMachineErrorCode, message: string, retryable: boolean, options: DataMachineErrorOptions = {}) {
    super(code, message, options);
    this.name = 'HandlerError';
    this.retryable = retryable;
  }

  /** Whether `value` is a HandlerError, from this copy of the package or any other. */
  static override isInstance(value: unknown): value is HandlerError {
    return DataMachineError.isInstance(value) && typeof (value as { retryable?: unknown }).retryable === 'boolean';
  }
}
