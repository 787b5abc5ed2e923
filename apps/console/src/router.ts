import { useEffect, useState } from 'react';

/** A page of the console, read from the part of the address after `#`. */
export type Route =
  | { readonly page: 'login'; readonly token: string | undefined }
  | { readonly page: 'agents' }
  | { readonly page: 'approvals' }
  | { readonly page: 'agent'; readonly agent: string }
  | { readonly page: 'chat'; readonly agent: string }
  | { readonly page: 'jobs'; readonly agent: string }
  | { readonly page: 'job'; readonly agent: string; readonly job: string }
  | { readonly page: 'flows'; readonly agent: string }
  | { readonly page: 'flow'; readonly agent: string; readonly flow: string }
  /** The pipeline builder: an existing pipeline by slug, or a new one (`pipeline` undefined). */
  | { readonly page: 'pipeline'; readonly agent: string; readonly pipeline: string | undefined }
  | { readonly page: 'templates' }
  | { readonly page: 'not_found'; readonly path: string };

/**
 * Reads a route from a hash (`#/agents/writer/chat`). Pages live after `#`
 * so that no console address is ever an API path on the server.
 */
export function parseRoute(hash: string): Route {
  // A query after the path (`#/agents/writer/jobs?status=failed`) belongs to the page, not the route.
  const path = hash.replace(/^#/, '').split('?')[0] || '/';
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [first, agent, section, id, ...rest] = parts;
  if (first === undefined) return { page: 'agents' };
  if (first === 'login' && parts.length <= 2) return { page: 'login', token: agent };
  if (first === 'approvals' && parts.length === 1) return { page: 'approvals' };
  if (first === 'templates' && parts.length === 1) return { page: 'templates' };
  if (first === 'agents' && rest.length === 0) {
    if (agent === undefined) return { page: 'agents' };
    if (section === undefined) return { page: 'agent', agent };
    if (section === 'chat' && id === undefined) return { page: 'chat', agent };
    if (section === 'flows') return id === undefined ? { page: 'flows', agent } : { page: 'flow', agent, flow: id };
    if (section === 'pipelines' && id !== undefined) return { page: 'pipeline', agent, pipeline: id === 'new' ? undefined : id };
    if (section === 'jobs') return id === undefined ? { page: 'jobs', agent } : { page: 'job', agent, job: id };
  }
  return { page: 'not_found', path };
}

/** The address of a route, for links. */
export function href(route: Exclude<Route, { page: 'not_found' }>): string {
  const part = encodeURIComponent;
  switch (route.page) {
    case 'login':
      return route.token === undefined ? '#/login' : `#/login/${part(route.token)}`;
    case 'agents':
      return '#/agents';
    case 'approvals':
      return '#/approvals';
    case 'templates':
      return '#/templates';
    case 'agent':
      return `#/agents/${part(route.agent)}`;
    case 'chat':
    case 'jobs':
    case 'flows':
      return `#/agents/${part(route.agent)}/${route.page}`;
    case 'job':
      return `#/agents/${part(route.agent)}/jobs/${part(route.job)}`;
    case 'flow':
      return `#/agents/${part(route.agent)}/flows/${part(route.flow)}`;
    case 'pipeline':
      return `#/agents/${part(route.agent)}/pipelines/${route.pipeline === undefined ? 'new' : part(route.pipeline)}`;
  }
}

/** The current route, following the address as it changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  return route;
}

/** The query part of the current address (`#/…?status=failed`): a page's own state, such as filters, that survives a reload. */
export function hashQuery(): URLSearchParams {
  const hash = window.location.hash;
  const at = hash.indexOf('?');
  return new URLSearchParams(at === -1 ? '' : hash.slice(at + 1));
}

/** Replaces the query part of the current address, keeping its path, without a new history entry or a route change. */
export function replaceHashQuery(query: URLSearchParams): void {
  const path = window.location.hash.split('?')[0] ?? '';
  const text = query.toString();
  window.history.replaceState(window.history.state, '', `${path}${text === '' ? '' : `?${text}`}`);
}

/** Goes to a route. */
export function navigate(route: Exclude<Route, { page: 'not_found' }>): void {
  window.location.hash = href(route);
}
