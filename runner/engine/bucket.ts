/**
 * Rows are spread over this many hash buckets by key; a chunk is a range of buckets. Many more
 * buckets than chunks keeps chunks even, and every duplicate of a key shares its bucket.
 */
export const BUCKETS = 32_768;

/** FNV-1a over the key's UTF-16 code units, folded into [0, BUCKETS). */
export function bucketOf(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUCKETS;
}
