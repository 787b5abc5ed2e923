/**
 * What the probes read of other processes (a Postgres backend, the WAL writer, the model server)
 * from /proc: their CPU time, and the machine's load. Linux only, as the probes are.
 */
import { readFileSync } from 'node:fs';

/** CPU time of a process, in ms, from /proc (user + system, in clock ticks of 10 ms). Throws for a process that is gone. */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The load averages over 1, 5 and 15 minutes, as /proc/loadavg gives them. */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
