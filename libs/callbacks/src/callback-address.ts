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

  /** Why a callback may not go to this IP address; null when it may. An IPv4-mapped IPv6 address counts as IPv4. */
  refusal(address: string): string | null {
    const family = isIP(address);
    if (family === 0) return `${address} is not an IP address`;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (!this.internal.check(address, type) || this.allowed.check(address, type)) return null;
    return `${address} is a loopback, private or link-local address (allow it with CALLBACK_ALLOWED_NETWORKS)`;
  }
}
