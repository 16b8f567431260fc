import { BlockList, isIP } from 'node:net';

/**
 * Addresses a callback may not reach unless the operator allows them (CALLBACK_ALLOWED_NETWORKS): a
 * callback URL is the submitter's choice, and without this a batch could make the worker POST into the
 * deployment's own network (Redis, cloud metadata at 169.254.169.254, admin ports) — server-side request forgery.
 */
const INTERNAL_V4 = [
  '0.0.0.0/8',
  '10.0.0.0/8',
  '100.64.0.0/10',
  '127.0.0.0/8',
  '169.254.0.0/16',
  '172.16.0.0/12',
  '192.0.0.0/24',
  '192.168.0.0/16',
  '198.18.0.0/15',
  '224.0.0.0/4',
  '240.0.0.0/4',
];
const INTERNAL_V6 = ['::/128', '::1/128', 'fc00::/7', 'fe80::/10', 'ff00::/8'];

function subnets(list: BlockList, cidrs: readonly string[], where: string): void {
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/');
    const family = isIP(address);
    const prefix = Number(bits ?? (family === 6 ? 128 : 32));
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > (family === 6 ? 128 : 32))
      throw new Error(`${where}: ${cidr} is not an IP address or CIDR range`);
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** Which addresses callbacks may reach: every public one, and the internal ranges the operator allowed. */
export class CallbackAddressGuard {
  private readonly internal = new BlockList();
  private readonly allowed = new BlockList();

  /** `allowedNetworks`: CIDR ranges (or single addresses) inside the internal ranges that callbacks may reach. */
  constructor(allowedNetworks: readonly string[] = []) {
    subnets(this.internal, INTERNAL_V4, 'internal ranges');
    subnets(this.internal, INTERNAL_V6, 'internal ranges');
    subnets(this.allowed, allowedNetworks, 'CALLBACK_ALLOWED_NETWORKS');
  }

  /**
   * Why a callback may not go to this IP address; null when it may. An IPv4-mapped IPv6 address counts as IPv4, and
   * so does one that carries an IPv4 address to a translator (NAT64, 6to4, IPv4-compatible): where the network
   * has one, `[64:ff9b::a00:5]` reaches 10.0.0.5.
   */
  refusal(address: string): string | null {
    const family = isIP(address);
    if (family === 0) return `${address} is not an IP address`;
    const carried = family === 6 ? embeddedIPv4(address) : null;
    if (carried !== null) {
      const why = this.refusal(carried);
      return why === null ? null : `${address} carries ${carried}: ${why}`;
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (!this.internal.check(address, type) || this.allowed.check(address, type)) return null;
    return `${address} is a loopback, private or link-local address (allow it with CALLBACK_ALLOWED_NETWORKS)`;
  }
}

/**
 * The IPv4 address an IPv6 one carries to a translator, or null: NAT64's well-known prefix 64:ff9b::/96 and the
 * local-use 64:ff9b:1::/48 (RFC 6052, RFC 8215: the last 32 bits), 6to4's 2002::/16 (RFC 3056: bits 16-47), and
 * the deprecated IPv4-compatible ::/96 (not :: and ::1, which are checked as they are).
 */
export function embeddedIPv4(address: string): string | null {
  const h = hextets(address);
  if (h === null) return null;
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
  const zero = (from: number, to: number) => h.slice(from, to).every((x) => x === 0);
  if (h[0] === 0x64 && h[1] === 0xff9b && zero(2, 6)) return v4(h[6], h[7]);
  if (h[0] === 0x64 && h[1] === 0xff9b && h[2] === 1) return v4(h[6], h[7]);
  if (h[0] === 0x2002) return v4(h[1], h[2]);
  if (zero(0, 6) && h[6] !== 0) return v4(h[6], h[7]);
  return null;
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail read as two groups). */
function hextets(address: string): number[] | null {
  let text = address.toLowerCase().split('%')[0];
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((x) => parseInt(x, 16)) : []);
  const left = part(head);
  const right = part(tail);
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill(0), ...right];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
}
