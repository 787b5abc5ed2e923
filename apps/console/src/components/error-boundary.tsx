import { Component, type ErrorInfo, type ReactNode } from 'react';
import { ApiError } from '../api/api-error';

/** The code a page failure is shown with when it is not an API error. */
export const pageFailedCode = 'console.page_failed';

interface PageErrorBoundaryProps {
  /** A change (the route) clears the failure: another page gets its own chance. */
  readonly resetKey: string;
  readonly children: ReactNode;
}

interface PageErrorBoundaryState {
  readonly error: unknown;
  readonly routeKey: string | undefined;
}

/**
 * Catches a page that throws while rendering and shows the failure in plain
 * words with its code and a way to try again, instead of a blank console.
 */
export class PageErrorBoundary extends Component<PageErrorBoundaryProps, PageErrorBoundaryState> {
  override state: PageErrorBoundaryState = { error: undefined, routeKey: undefined };

  static getDerivedStateFromError(error: unknown): Partial<PageErrorBoundaryState> {
    return { error };
  }

  static getDerivedStateFromProps(props: PageErrorBoundaryProps, state: PageErrorBoundaryState): Partial<PageErrorBoundaryState> | null {
    // Follow the route; a failure shown for one route is cleared on another.
    if (state.error === undefined) return state.routeKey === props.resetKey ? null : { routeKey: props.resetKey };
    if (state.routeKey !== props.resetKey) return { error: undefined, routeKey: props.resetKey };
    return null;
  }

  override componentDidCatch(error: unknown, info: ErrorInfo): void {
    console.error('the page failed', error, info.componentStack);
  }

  override render(): ReactNode {
    const { error } = this.state;
    if (error === undefined) return this.props.children;
    const code = error instanceof ApiError ? error.code : pageFailedCode;
    const message = error instanceof Error && error.message !== '' ? error.message : 'Something went wrong while showing this page.';
    return (
      <div role="alert" className="notice notice-error">
        <strong>This page failed.</strong> {message} <code>{code}</code>{' '}
        <button type="button" className="button button-quiet" onClick={() => this.setState({ error: undefined })}>
          Try again
        </button>
      </div>
    );
  }
}
