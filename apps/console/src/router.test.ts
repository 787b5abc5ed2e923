/** @vitest-environment jsdom */
import { afterEach, describe, expect, it } from 'vitest';
import { hashQuery, parseRoute, replaceHashQuery } from './router';

describe('router', () => {
  afterEach(() => window.history.replaceState(null, '', '#/'));

  it("reads the route from the path alone: a page's query does not change which page it is", () => {
    expect(parseRoute('#/agents/writer/jobs?status=failed&flow=daily')).toEqual({ page: 'jobs', agent: 'writer' });
    expect(parseRoute('#/agents/writer/jobs/j1')).toEqual({ page: 'job', agent: 'writer', job: 'j1' });
  });

  it('replaces the query of the address and keeps its path, and drops the ? when the query is empty', () => {
    window.history.replaceState(null, '', '#/agents/writer/jobs');
    replaceHashQuery(new URLSearchParams({ status: 'failed' }));
    expect(window.location.hash).toBe('#/agents/writer/jobs?status=failed');
    expect(hashQuery().get('status')).toBe('failed');
    replaceHashQuery(new URLSearchParams());
    expect(window.location.hash).toBe('#/agents/writer/jobs');
    expect([...hashQuery()]).toEqual([]);
  });
});
