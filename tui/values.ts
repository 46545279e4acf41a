/** The API sends BigInt fields as strings and leaves absent values null: these read them. */

/** A count; 0 when absent. */
export const num = (value: unknown): number => Number(value ?? 0);

/** A number, or null when absent. */
export const maybeNum = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/** A timestamp, or null when absent. */
export const maybeDate = (value: unknown): Date | null => (typeof value === "string" ? new Date(value) : null);
