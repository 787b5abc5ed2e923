/** @vitest-environment jsdom */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState, type ReactElement } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadMore, usePagedList, type PagedListOptions } from './paged-list';

interface Page {
  readonly names: readonly string[];
  readonly nextCursor: string | null;
}

/** Lists of pages, each answered only when the test says (`answer`), each cursor naming the next page's index; the cursors asked for are kept. */
function pagedServer(pages: Record<string, readonly Page[]>) {
  const asked: (string | undefined)[] = [];
  const waiting: (() => void)[] = [];
  const fetchPage = (key: string) => async (cursor: string | undefined) => {
    asked.push(cursor);
    await new Promise<void>((resolve) => waiting.push(resolve));
    return pages[key]![cursor === undefined ? 0 : Number(cursor)]!;
  };
  /** Answers the oldest request, once one is asked. */
  const answer = async () => {
    await waitFor(() => expect(waiting.length).toBeGreaterThan(0));
    waiting.shift()!();
  };
  return { asked, fetchPage, answer };
}

function Names({ fetchPage, label, keepPrevious }: { readonly fetchPage: (key: string) => PagedListOptions<Page, string>['fetchPage']; readonly label?: string; readonly keepPrevious?: boolean }) {
  const [key, setKey] = useState('a');
  const list = usePagedList({ queryKey: ['names', key], fetchPage: fetchPage(key), items: (page) => page.names, ...(keepPrevious === undefined ? {} : { keepPrevious }) });
  return (
    <>
      <button onClick={() => setKey('b')}>Other list</button>
      {list.query.isPending && <p>Loading…</p>}
      <ul>{list.items?.map((name) => <li key={name}>{name}</li>)}</ul>
      {label === undefined ? <LoadMore list={list} /> : <LoadMore list={list}>{label}</LoadMore>}
    </>
  );
}

const shownNames = () => screen.queryAllByRole('listitem').map((item) => item.textContent);

function show(element: ReactElement) {
  const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } } });
  render(<QueryClientProvider client={queryClient}>{element}</QueryClientProvider>);
}

const pages = {
  a: [
    { names: ['ada', 'bob'], nextCursor: '1' },
    { names: ['cy'], nextCursor: null },
  ],
  b: [{ names: ['dee'], nextCursor: null }],
};

describe('a paged list', () => {
  afterEach(cleanup);

  it('shows the first page, appends the next one at "Load more" (disabled while it loads), and offers no more after the last', async () => {
    const server = pagedServer(pages);
    show(<Names fetchPage={server.fetchPage} />);
    await server.answer();
    await waitFor(() => expect(shownNames()).toEqual(['ada', 'bob']));
    const more = screen.getByRole('button', { name: 'Load more' }) as HTMLButtonElement;
    fireEvent.click(more);
    await waitFor(() => expect(more.disabled).toBe(true));
    await server.answer();
    await waitFor(() => expect(shownNames()).toEqual(['ada', 'bob', 'cy']));
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
    expect(server.asked).toEqual([undefined, '1']);
  });

  it('names its button as told', async () => {
    const server = pagedServer(pages);
    show(<Names fetchPage={server.fetchPage} label="Show more" />);
    await server.answer();
    expect(await screen.findByRole('button', { name: 'Show more' })).toBeTruthy();
  });

  it("keeps the old list's items while another list's first page loads, unless told not to", async () => {
    for (const keepPrevious of [true, false]) {
      const server = pagedServer(pages);
      show(<Names fetchPage={server.fetchPage} keepPrevious={keepPrevious} />);
      await server.answer();
      await waitFor(() => expect(shownNames()).toEqual(['ada', 'bob']));
      fireEvent.click(screen.getByRole('button', { name: 'Other list' }));
      await waitFor(() => expect(server.asked).toHaveLength(2));
      expect(shownNames()).toEqual(keepPrevious ? ['ada', 'bob'] : []);
      expect(screen.queryByText('Loading…') === null).toBe(keepPrevious);
      await server.answer();
      await waitFor(() => expect(shownNames()).toEqual(['dee']));
      cleanup();
    }
  });
});
