import { useQuery } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { invalidFields } from '../../api/api-error';
import { unwrap, type ApiClient, type paths } from '../../api/client';
import { ErrorNotice, TextField } from '../../components/ui';

/** A flow's schedule, as the API takes it. */
export type Schedule = paths['/schedules/preview']['post']['requestBody']['content']['application/json']['schedule'];
type Preset = Extract<Schedule, { kind: 'interval' }>['every'];

/** The interval presets in words, in the server's order. */
export const presetWords: Readonly<Record<Preset, string>> = {
  every_5_minutes: 'every 5 minutes',
  hourly: 'every hour',
  every_2_hours: 'every 2 hours',
  every_4_hours: 'every 4 hours',
  every_6_hours: 'every 6 hours',
  every_12_hours: 'every 12 hours',
  daily: 'every day',
  weekly: 'every week',
};

const kindWords = { manual: 'Manual (run now only)', interval: 'Interval', cron: 'Cron expression', one_time: 'Once, at a time' } as const;

/** A schedule in words: "Runs every hour", "Runs on cron 0 9 * * 1-5 in Europe/Paris". */
export function describeSchedule(schedule: Schedule): string {
  switch (schedule.kind) {
    case 'manual':
      return 'Runs only when started.';
    case 'interval':
      return `Runs ${presetWords[schedule.every]}.`;
    case 'cron':
      return `Runs on cron ${schedule.expression} in ${schedule.timeZone ?? 'UTC'}.`;
    case 'one_time':
      return `Runs once.`;
  }
}

/** How far `instant` is from `now`, in words: "in 3 hours", "2 days ago". */
export function relativeWords(instant: Date, now: Date): string {
  const seconds = Math.round((instant.getTime() - now.getTime()) / 1000);
  const format = new Intl.RelativeTimeFormat('en', { numeric: 'auto' });
  const units: readonly [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  return format.format(seconds, 'second');
}

/** An instant as a reader in `timeZone` sees it: "Fri, 4 Dec 2026, 08:30". */
export function localTime(instant: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' }).format(instant);
}

/** The value lags `value` by `delayMs`, so typing a cron expression asks the server once it settles. */
function useSettled<T>(value: T, delayMs: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), delayMs);
    return () => clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

/** What {@link ScheduleEditor} takes. */
export interface ScheduleEditorProps {
  readonly client: ApiClient;
  readonly value: Schedule;
  readonly onChange: (schedule: Schedule) => void;
  /** The flow's id: interval runs are staggered by it. */
  readonly flowId?: string;
  /** Field errors from saving (`schedule.expression`). */
  readonly errors?: ReadonlyMap<string, string>;
  readonly now?: () => Date;
}

/**
 * The schedule of a flow: manual, an interval preset, a cron expression in a
 * time zone, or one instant; with its next runs previewed by the server's own
 * scheduler rules (`POST /schedules/preview`), in words and in the zone's time.
 */
export function ScheduleEditor({ client, value, onChange, flowId, errors = new Map(), now = () => new Date() }: ScheduleEditorProps) {
  const kindId = useId();
  const presetId = useId();
  const asked = useSettled(value, 300);
  const preview = useQuery({
    queryKey: ['schedule-preview', asked, flowId],
    queryFn: () => unwrap(client.POST('/schedules/preview', { body: { schedule: asked, count: 5, ...(flowId === undefined ? {} : { flowId }) } })),
    retry: false,
  });
  const previewErrors = invalidFields(preview.error);
  const fieldError = (field: string) => errors.get(`schedule.${field}`) ?? previewErrors.get(`schedule.${field}`);
  const choose = (kind: Schedule['kind']) => {
    if (kind === value.kind) return;
    if (kind === 'manual') onChange({ kind });
    else if (kind === 'interval') onChange({ kind, every: 'daily' });
    else if (kind === 'cron') onChange({ kind, expression: '0 9 * * *', timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' });
    else onChange({ kind, at: new Date(now().getTime() + 60 * 60_000).toISOString() });
  };
  const zone = value.kind === 'cron' ? (value.timeZone ?? 'UTC') : Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  return (
    <div className="schedule-editor">
      <div className="field">
        <label htmlFor={kindId}>Schedule</label>
        <select id={kindId} value={value.kind} onChange={(event) => choose(event.target.value as Schedule['kind'])}>
          {(Object.keys(kindWords) as Schedule['kind'][]).map((kind) => (
            <option key={kind} value={kind}>
              {kindWords[kind]}
            </option>
          ))}
        </select>
      </div>
      {value.kind === 'interval' && (
        <div className="field">
          <label htmlFor={presetId}>Every</label>
          <select id={presetId} value={value.every} onChange={(event) => onChange({ ...value, every: event.target.value as Preset })}>
            {(Object.keys(presetWords) as Preset[]).map((preset) => (
              <option key={preset} value={preset}>
                {presetWords[preset]}
              </option>
            ))}
          </select>
        </div>
      )}
      {value.kind === 'cron' && (
        <>
          <TextField label="Cron expression" hint="minute hour day-of-month month weekday, e.g. 30 8 * * 1-5" value={value.expression} error={fieldError('expression')} onChange={(event) => onChange({ ...value, expression: event.target.value })} />
          <TextField label="Time zone" hint="an IANA zone, e.g. Europe/Paris" value={value.timeZone ?? 'UTC'} error={fieldError('timeZone')} onChange={(event) => onChange({ ...value, timeZone: event.target.value })} />
        </>
      )}
      {value.kind === 'one_time' && (
        <TextField
          label="Run at"
          type="datetime-local"
          value={toLocalInput(new Date(value.at))}
          error={fieldError('at')}
          onChange={(event) => {
            const at = new Date(event.target.value);
            if (!Number.isNaN(at.getTime())) onChange({ kind: 'one_time', at: at.toISOString() });
          }}
        />
      )}
      <div className="schedule-preview" aria-live="polite">
        <p>{describeSchedule(value)}</p>
        {preview.error !== null && previewErrors.size === 0 && <ErrorNotice error={preview.error} />}
        {preview.data && preview.data.runs.length > 0 && (
          <>
            <h4>Next runs</h4>
            <ol aria-label="Next runs">
              {preview.data.runs.map((run) => (
                <li key={run}>
                  {relativeWords(new Date(run), now())}: {localTime(new Date(run), value.kind === 'cron' ? preview.data.timeZone : zone)} ({value.kind === 'cron' ? preview.data.timeZone : zone})
                </li>
              ))}
            </ol>
          </>
        )}
      </div>
    </div>
  );
}

/** An instant as a `datetime-local` input shows it: the browser's local time, to the minute. */
function toLocalInput(instant: Date): string {
  const local = new Date(instant.getTime() - instant.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}
