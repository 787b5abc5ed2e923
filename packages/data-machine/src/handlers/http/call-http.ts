import type { HandlerContext } from '../handler';
import { createHandlerHttpClient, type HandlerHttpClient } from './handler-http-client';

/**
 * Runs `work` with the call's HTTP client, or with a default one (private
 * addresses refused) that is closed afterwards when the host handed none.
 */
export async function withCallHttp<T>(call: HandlerContext, work: (http: HandlerHttpClient) => Promise<T>): Promise<T> {
  if (call.http) return work(call.http);
  const http = createHandlerHttpClient();
  try {
    return await work(http);
  } finally {
    await http.close();
  }
}
