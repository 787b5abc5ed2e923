/** The long-running modes of the binary and which parts of the server each runs; data only, so the CLI reads it before importing any part. */
export const modes = {
  start: { http: true, workers: true, scheduler: true },
  serve: { http: true, workers: false, scheduler: false },
  worker: { http: false, workers: true, scheduler: false },
  scheduler: { http: false, workers: false, scheduler: true },
} as const;

/** A long-running mode: `start`, `serve`, `worker` or `scheduler`. */
export type Mode = keyof typeof modes;

/** Whether `command` names a long-running mode. */
export function isMode(command: string): command is Mode {
  return Object.hasOwn(modes, command);
}
