/** @vitest-environment jsdom */
import { QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useState } from 'react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../../api/client';
import { createQueryClient } from '../../app';
import { json, serve, type SeenRequest } from '../../test-support/serve';
import { describeSchedule, localTime, relativeWords, ScheduleEditor, type Schedule } from './schedule-editor';

const now = new Date('2026-12-04T12:00:00Z');

function Harness({ initial, latest }: { readonly initial: Schedule; readonly latest: { value: Schedule } }) {
  const [value, setValue] = useState(initial);
  latest.value = value;
  return <ScheduleEditor client={createApiClient({ baseUrl: 'http://console.test' })} value={value} onChange={setValue} flowId="flw_1" now={() => now} />;
}
function show(initial: Schedule) {
  const latest = { value: initial };
  render(
    <QueryClientProvider client={createQueryClient()}>
      <Harness initial={initial} latest={latest} />
    </QueryClientProvider>,
  );
  return latest;
}
const previews = (seen: SeenRequest[]) => seen.filter((request) => request.route === 'POST /schedules/preview').map((request) => request.body);

describe('schedule editor', () => {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });

  it("previews a cron schedule's next runs from the server, in words and in the schedule's time zone", async () => {
    const seen = serve({ 'POST /schedules/preview': json({ runs: ['2026-12-04T13:30:00.000Z', '2026-12-07T13:30:00.000Z'], timeZone: 'America/New_York' }) });
    show({ kind: 'cron', expression: '30 8 * * 1-5', timeZone: 'America/New_York' });
    const runs = await screen.findByRole('list', { name: 'Next runs' });
    expect(within(runs).getAllByRole('listitem').map((item) => item.textContent)).toEqual([
      'in 2 hours: Fri, 4 Dec 2026, 08:30 (America/New_York)',
      'in 3 days: Mon, 7 Dec 2026, 08:30 (America/New_York)',
    ]);
    expect(screen.getByText('Runs on cron 30 8 * * 1-5 in America/New_York.')).toBeTruthy();
    expect(previews(seen)[0]).toEqual({ schedule: { kind: 'cron', expression: '30 8 * * 1-5', timeZone: 'America/New_York' }, count: 5, flowId: 'flw_1' });
  });

  it('marks the cron expression the server cannot read, with its message', async () => {
    serve({
      'POST /schedules/preview': json({ error: { code: 'flow.invalid_config', message: 'Invalid schedule', details: { issues: [{ path: 'schedule.expression', message: 'a cron expression has five fields' }] } } }, 400),
    });
    show({ kind: 'cron', expression: '0 9 * *', timeZone: 'UTC' });
    await screen.findByText('a cron expression has five fields');
    expect(screen.getByLabelText('Cron expression').getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByLabelText('Time zone').getAttribute('aria-invalid')).toBe('false');
    expect(screen.queryByRole('list', { name: 'Next runs' })).toBeNull();
  });

  it('switches kinds: an interval preset is chosen from words and asked for again', async () => {
    const seen = serve({ 'POST /schedules/preview': (request) => json({ runs: (request.body as { schedule: Schedule }).schedule.kind === 'manual' ? [] : ['2026-12-05T00:00:00.000Z'], timeZone: 'UTC' })() });
    const latest = show({ kind: 'manual' });
    expect(screen.getByText('Runs only when started.')).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Schedule'), { target: { value: 'interval' } });
    fireEvent.change(screen.getByLabelText('Every'), { target: { value: 'every_6_hours' } });
    expect(latest.value).toEqual({ kind: 'interval', every: 'every_6_hours' });
    expect(screen.getByText('Runs every 6 hours.')).toBeTruthy();
    await waitFor(() => expect(previews(seen)).toContainEqual({ schedule: { kind: 'interval', every: 'every_6_hours' }, count: 5, flowId: 'flw_1' }));
    await screen.findByRole('list', { name: 'Next runs' });
  });

  it('words a schedule and an instant', () => {
    expect(describeSchedule({ kind: 'interval', every: 'daily' })).toBe('Runs every day.');
    expect(relativeWords(new Date('2026-12-04T11:59:00Z'), now)).toBe('1 minute ago');
    expect(relativeWords(new Date('2026-12-05T12:00:00Z'), now)).toBe('tomorrow');
    expect(localTime(new Date('2026-12-04T13:30:00Z'), 'Asia/Tokyo')).toBe('Fri, 4 Dec 2026, 22:30');
  });
});
