import { z } from 'zod';
import { DataMachineError } from '../errors';

/** One page of a list, newest first (or in the list's order), and where the next starts. */
export interface Page<Item> {
  readonly items: readonly Item[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** How a page is asked for: at most `limit` items (default 50, at most 200), after `cursor`. */
export const pageOptionsSchema = z.object({ limit: z.int().min(1).max(200).default(50), cursor: z.string().min(1).max(500).optional() }).strict();
export type PageOptions = z.input<typeof pageOptionsSchema>;

/** A keyset position: the last item of a page, by (time, id). */
export interface KeysetPosition {
  readonly at: Date;
  readonly id: string;
}

const positionSchema = z.tuple([z.int().min(-8_640_000_000_000_000).max(8_640_000_000_000_000), z.string().min(1).max(200)]);

/** An opaque cursor for `position` (base64url JSON; opaque to callers, not secret). */
export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify([position.at.getTime(), position.id])).toString('base64url');
}

/** The position a cursor names; a cursor that is not one of ours is `input.invalid`. */
export function decodeCursor(cursor: string): KeysetPosition {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  const parsed = positionSchema.safeParse(value);
  if (!parsed.success) throw new DataMachineError('input.invalid', 'Invalid cursor: pass the nextCursor of a previous page.', { details: { issues: [{ path: 'cursor', message: 'not a cursor' }] } });
  return { at: new Date(parsed.data[0]), id: parsed.data[1] };
}

/** The page of `rows` fetched with `limit + 1`: the extra row only says that there is a next page. */
export function pageOf<Row, Item>(rows: readonly Row[], limit: number, position: (row: Row) => KeysetPosition, toItem: (row: Row) => Item): Page<Item> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { items: shown.map(toItem), nextCursor: rows.length > limit && last !== undefined ? encodeCursor(position(last)) : null };
}
