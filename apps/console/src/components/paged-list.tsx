import { keepPreviousData, useInfiniteQuery, type InfiniteData, type QueryKey, type UseInfiniteQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { Button } from './ui';

/** A page of a cursor-paged list as the API answers it: `nextCursor` is null on the last page. */
export interface CursorPage {
  readonly nextCursor?: string | null | undefined;
}

/** What {@link usePagedList} reads. */
export interface PagedListOptions<Page extends CursorPage, Item> {
  readonly queryKey: QueryKey;
  /** Fetches the page after `cursor`; undefined for the first. */
  readonly fetchPage: (cursor: string | undefined) => Promise<Page>;
  /** The items of one page. */
  readonly items: (page: Page) => readonly Item[];
  /** How often every loaded page is read again, in milliseconds (or never), fixed or from the items shown; default never. */
  readonly refetchInterval?: number | false | ((items: readonly Item[] | undefined) => number | false);
  /** While a new key's first page loads (a filter changed, a poll's key moved), keep showing the old key's items; default true. */
  readonly keepPrevious?: boolean;
}

/** A paged list: the query (its error, pending state, next page) and the items of every page loaded so far, in order. */
export interface PagedList<Page, Item> {
  readonly query: UseInfiniteQueryResult<InfiniteData<Page, string | undefined>, Error>;
  /** Undefined until the first page arrives. */
  readonly items: readonly Item[] | undefined;
}

/**
 * A list the API answers a page at a time (`?cursor=`, `nextCursor`), loaded
 * one page after another: the one place the console pages, shown with
 * {@link LoadMore}.
 *
 * @example
 * const jobs = usePagedList({ queryKey: ['jobs', agent], fetchPage: (cursor) => fetchJobs(cursor), items: (page) => page.jobs });
 * return <>{jobs.items?.map(...)}<LoadMore list={jobs} /></>;
 */
export function usePagedList<Page extends CursorPage, Item>(options: PagedListOptions<Page, Item>): PagedList<Page, Item> {
  const { refetchInterval, items } = options;
  const query = useInfiniteQuery<Page, Error, InfiniteData<Page, string | undefined>, QueryKey, string | undefined>({
    queryKey: options.queryKey,
    initialPageParam: undefined as string | undefined,
    queryFn: ({ pageParam }) => options.fetchPage(pageParam),
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    refetchInterval: typeof refetchInterval === 'function' ? (current) => refetchInterval(current.state.data?.pages.flatMap(items)) : (refetchInterval ?? false),
    ...(options.keepPrevious === false ? {} : { placeholderData: keepPreviousData }),
  });
  return { query, items: query.data?.pages.flatMap(items) };
}

/** The button that loads a paged list's next page; nothing once the last page is loaded. */
export function LoadMore<Page, Item>({ list, children = 'Load more' }: { readonly list: PagedList<Page, Item>; readonly children?: ReactNode }) {
  const { query } = list;
  if (!query.hasNextPage) return null;
  return (
    <Button disabled={query.isFetchingNextPage} onClick={() => void query.fetchNextPage()}>
      {children}
    </Button>
  );
}
