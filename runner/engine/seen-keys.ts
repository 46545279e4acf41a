/** Bits of the filter: 16 MiB, few false positives up to ten million keys (~0.1% there). */
const BITS = 2 ** 27;
/** Each key sets its bits within one 512-bit block, so a lookup costs one cache miss, not four. */
const BLOCK_WORDS = 16;
const BLOCKS = BITS / 32 / BLOCK_WORDS;
const HASHES = 3;
/** Past this many suspects, telling them apart is no cheaper than looking at every key. */
const MAX_SUSPECTS = 100_000;

/**
 * Notices keys seen before, in bounded memory: a Bloom filter over every key, and the keys it
 * says may have been seen (every real repeat, plus a few false alarms). Settling duplicates
 * then looks only at the rows with those keys instead of grouping every row of the action.
 */
export class SeenKeys {
  readonly #bits = new Uint32Array(BLOCKS * BLOCK_WORDS);
  #suspects: Set<string> | undefined = new Set();

  /** Records a key; remembers it as a suspect when it may have been seen already. */
  add(key: string): void {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < key.length; i++) {
      const c = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
    }
    const block = (mix(h1) & (BLOCKS - 1)) * BLOCK_WORDS;
    h2 = mix(h2);
    let seen = true;
    for (let n = 0; n < HASHES; n++) {
      const bit = (h2 >>> (9 * n)) & 511;
      const word = block + (bit >>> 5);
      const mask = 1 << (bit & 31);
      if ((this.#bits[word]! & mask) === 0) {
        seen = false;
        this.#bits[word]! |= mask;
      }
    }
    if (!seen || !this.#suspects) return;
    this.#suspects.add(key);
    if (this.#suspects.size > MAX_SUSPECTS) this.#suspects = undefined;
  }

  /** The keys that may repeat; undefined when there were too many to list (any key may). */
  suspects(): string[] | undefined {
    return this.#suspects && [...this.#suspects];
  }
}

/** Spreads every input bit over the whole hash (the finaliser of MurmurHash3). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}
