/**
 * Redis Cluster's key → slot mapping, as the server computes it (CLUSTER KEYSLOT): CRC16/XMODEM of the
 * key's hash tag (the text between the first `{` and the next `}`, when not empty) or of the whole key,
 * modulo 16384. A Lua script, a MULTI and a multi-key command may only touch keys of one slot on a
 * Cluster (CROSSSLOT otherwise), so Switchyard checks its keys with this even on a single Redis.
 */
export const SLOTS = 16384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc;
}

/** The part of `key` that decides its slot. */
export function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open === -1) return key;
  const close = key.indexOf('}', open + 1);
  return close === -1 || close === open + 1 ? key : key.slice(open + 1, close);
}

export function keySlot(key: string): number {
  return crc16(Buffer.from(hashedPart(key), 'utf8')) % SLOTS;
}

/** `{text}`: a hash tag, so every key that holds it lands on one slot. Braces inside would end the tag early. */
export function hashTag(text: string): string {
  if (!canHashTag(text)) throw new Error(`a hash tag cannot hold braces: ${text}`);
  return `{${text}}`;
}

/**
 * Whether `text` may be a hash tag. Ids made here never hold braces, so one from a request that does names
 * nothing: readers answer "not found" for it rather than build its key (which throws).
 */
export function canHashTag(text: string): boolean {
  return !text.includes('{') && !text.includes('}');
}

/** A call that would fail with CROSSSLOT on a Redis Cluster. */
export class CrossSlotKeys extends Error {
  constructor(what: string, keys: readonly string[]) {
    const slots = [...new Set(keys.map(keySlot))];
    super(
      `${what} touches keys of ${slots.length} hash slots (${slots.join(', ')}); on a Redis Cluster it must touch one`,
    );
    this.name = 'CrossSlotKeys';
  }
}

/** The error a Cluster would answer for `keys` in one command, script or MULTI; null when they share a slot. */
export function crossSlot(what: string, keys: readonly string[]): CrossSlotKeys | null {
  if (keys.length < 2) return null;
  // Keys whose hashed parts are the same text share a slot without a CRC: Switchyard's keys of one call
  // almost always do (one hash tag), and this check runs on every script call (a few per item, issue 17 §1).
  const part = hashedPart(keys[0]);
  if (keys.every((k) => hashedPart(k) === part)) return null;
  const first = keySlot(keys[0]);
  return keys.some((k) => keySlot(k) !== first) ? new CrossSlotKeys(what, keys) : null;
}

/** Throws unless every key maps to one slot (an empty list does). */
export function assertOneSlot(what: string, keys: readonly string[]): void {
  const error = crossSlot(what, keys);
  if (error) throw error;
}

/**
 * Where Switchyard's global records live (indexes, idempotency keys, schedules, API keys, audit, pools,
 * circuits, capabilities, open backlogs): `{<prefix>:sy}`, one slot per deployment. What spreads (a batch
 * and its items) is tagged by its own id instead.
 */
export function globalKeyPrefix(prefix: string): string {
  return hashTag(`${prefix}:sy`);
}
