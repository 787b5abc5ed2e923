/**
 * Reads the `Cookie` header into names and values. Malformed pairs and
 * values that do not percent-decode are skipped; the first of two equal names wins.
 */
export function parseCookies(header: string | undefined): ReadonlyMap<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined) return cookies;
  for (const pair of header.split(';')) {
    const separator = pair.indexOf('=');
    if (separator <= 0) continue;
    const name = pair.slice(0, separator).trim();
    let value = pair.slice(separator + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name === '' || cookies.has(name)) continue;
    try {
      cookies.set(name, decodeURIComponent(value));
    } catch {
      // A value that is not valid percent-encoding is not ours.
    }
  }
  return cookies;
}

/** The attributes of a cookie the server sets. */
export interface CookieOptions {
  /** Whether scripts may not read it (`HttpOnly`). */
  readonly httpOnly: boolean;
  /** Sent only over https (`Secure`). */
  readonly secure: boolean;
  /** Seconds until it expires; 0 deletes it. */
  readonly maxAgeSeconds: number;
}

/** A `Set-Cookie` value: always `Path=/` and `SameSite=Strict`. */
export function serializeCookie(name: string, value: string, options: CookieOptions): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    'Path=/',
    `Max-Age=${Math.max(0, Math.floor(options.maxAgeSeconds))}`,
    'SameSite=Strict',
    ...(options.httpOnly ? ['HttpOnly'] : []),
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
