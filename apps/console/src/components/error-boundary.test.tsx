/** @vitest-environment jsdom */
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiError } from '../api/api-error';
import { PageErrorBoundary } from './error-boundary';

/** A page that throws `error` while `failing.now` is set. */
function Page({ failing, error }: { readonly failing: { now: boolean }; readonly error: unknown }) {
  if (failing.now) throw error;
  return <p>The page</p>;
}

describe('PageErrorBoundary', () => {
  beforeEach(() => {
    // React reports a caught render error on the console; the test reads the page instead.
    vi.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => {
    cleanup();
    vi.restoreAllMocks();
  });

  it('shows a page that throws in plain words with a code, and tries again on request', () => {
    const failing = { now: true };
    render(
      <PageErrorBoundary resetKey="agents">
        <Page failing={failing} error={new TypeError('Cannot read properties of undefined')} />
      </PageErrorBoundary>,
    );
    const alert = screen.getByRole('alert');
    expect(alert.textContent).toContain('This page failed.');
    expect(alert.textContent).toContain('Cannot read properties of undefined');
    expect(alert.textContent).toContain('console.page_failed');
    failing.now = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(screen.getByText('The page')).toBeTruthy();
  });

  it('names an API error by its own code, and clears on another route', () => {
    const failing = { now: true };
    const { rerender } = render(
      <PageErrorBoundary resetKey="job-1">
        <Page failing={failing} error={new ApiError(404, 'job.not_found', 'There is no job job-1.')} />
      </PageErrorBoundary>,
    );
    expect(screen.getByRole('alert').textContent).toContain('job.not_found');
    failing.now = false;
    rerender(
      <PageErrorBoundary resetKey="job-2">
        <Page failing={failing} error={undefined} />
      </PageErrorBoundary>,
    );
    expect(screen.getByText('The page')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();
  });
});
