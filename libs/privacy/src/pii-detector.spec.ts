import { describe, expect, it } from '@jest/globals';
import { detectPii } from './pii-detector.js';
import { DEFAULT_PII_RULES, PII_CATEGORIES, type PiiCategory } from './pii-rules.js';

// Valid test numbers are generated here, with the check-digit arithmetic written out again rather
// than imported, so a bug in the detector's checksum cannot make its own tests pass.

/** mulberry32: a seeded PRNG, so a failing sample can be reproduced. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = seeded(20240601);
const digits = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 10)).join('');
const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));

function withLuhnDigit(payload: string): string {
  let sum = 0;
  [...payload].reverse().forEach((c, i) => {
    const d = Number(c) * (i % 2 === 0 ? 2 : 1);
    sum += d > 9 ? d - 9 : d;
  });
  return payload + ((10 - (sum % 10)) % 10);
}
const withWrongLuhnDigit = (payload: string) => {
  const valid = withLuhnDigit(payload);
  return valid.slice(0, -1) + ((Number(valid.slice(-1)) + 1) % 10);
};
const card = (prefix: string, length: number) => withLuhnDigit(prefix + digits(length - prefix.length - 1));
const grouped = (pan: string, sizes: number[], sep: string) => {
  const out: string[] = [];
  let at = 0;
  for (const size of sizes) out.push(pan.slice(at, (at += size)));
  return out.join(sep);
};

function ibanFor(country: string, bban: string): string {
  const numeric = [...`${bban}${country}00`].map((c) => (/\d/.test(c) ? c : String(c.charCodeAt(0) - 55))).join('');
  const check = 98n - (BigInt(numeric) % 97n);
  return `${country}${String(check).padStart(2, '0')}${bban}`;
}
const printed = (iban: string) => iban.match(/.{1,4}/g)!.join(' ');

function nir(): string {
  const body = `${between(1, 2)}${digits(2)}${String(between(1, 12)).padStart(2, '0')}${String(between(1, 95)).padStart(2, '0')}${digits(3)}${digits(3)}`;
  return body + String(97n - (BigInt(body) % 97n)).padStart(2, '0');
}
function bsn(): string {
  for (;;) {
    const head = digits(8);
    const sum = [...head].reduce((s, c, i) => s + (9 - i) * Number(c), 0);
    const last = sum % 11;
    if (last <= 9 && sum !== 0) return head + last;
  }
}
const dni = () => {
  const n = between(10_000_000, 99_999_999);
  return `${n}${'TRWAGMYFPDXBNJZSQVHLCKE'[n % 23]}`;
};
const ssn = () =>
  `${between(1, 665)}`.padStart(3, '0') +
  `-${String(between(1, 99)).padStart(2, '0')}-${String(between(1, 9999)).padStart(4, '0')}`;

const only = (category: PiiCategory, n = 1) =>
  Object.fromEntries(PII_CATEGORIES.map((c) => [c, c === category ? n : 0])) as Record<PiiCategory, number>;
const NOTHING = Object.fromEntries(PII_CATEGORIES.map((c) => [c, 0]));

describe('detectPii: finds each category, validated', () => {
  const cases: Array<[PiiCategory, string[]]> = [
    [
      'email',
      ['jane.doe@example.com', "o'brien+billing@mail.example.co.uk", 'ops_team-7@sub.example-corp.io', 'X@EXAMPLE.ORG'],
    ],
    [
      'phone',
      [
        '+44 20 7946 0958',
        '+1 (415) 555-0132',
        '+33 6 12 34 56 78',
        '+4915112345678',
        '+44 (0)20 7946 0958',
        '+49-30-1234567',
        '(415) 555-0132',
        '415-555-0132',
        '415.555.0132',
        '1-800-555-0199',
        '020 7946 0958',
        '07700 900123',
        '06 12 34 56 78',
        '030/1234567',
        '(089) 1234567',
        '06-12345678',
        '0171 1234567',
      ],
    ],
    [
      'iban',
      [
        'GB82 WEST 1234 5698 7654 32',
        'DE89370400440532013000',
        'NL91 ABNA 0417 1643 00',
        'NO93 8601 1117 947',
        ...Array.from({ length: 10 }, () => printed(ibanFor('DE', digits(18)))),
        ...Array.from({ length: 10 }, () => ibanFor('FR', digits(10) + 'ABC' + digits(8) + '77')),
      ],
    ],
    [
      'card',
      [
        '4111 1111 1111 1111',
        '4111-1111-1111-1111',
        '5555555555554444',
        '3782 822463 10005',
        '6011 0009 9013 9424',
        ...Array.from({ length: 10 }, () => grouped(card('4', 16), [4, 4, 4, 4], ' ')),
        ...Array.from({ length: 5 }, () => card(String(between(51, 55)), 16)),
        ...Array.from({ length: 5 }, () => grouped(card(String(between(2221, 2720)), 16), [4, 4, 4, 4], '-')),
        ...Array.from({ length: 5 }, () => grouped(card(random() < 0.5 ? '34' : '37', 15), [4, 6, 5], ' ')),
        ...Array.from({ length: 3 }, () => grouped(card('36', 14), [4, 6, 4], ' ')),
        ...Array.from({ length: 3 }, () => card(String(between(3528, 3589)), 16)),
        ...Array.from({ length: 3 }, () => grouped(card('62', 19), [4, 4, 4, 4, 3], ' ')),
      ],
    ],
    [
      'national-id',
      [
        // US SSN: dashed on its own; spaced or unbroken only after its label.
        ...Array.from({ length: 10 }, ssn),
        'SSN: 536 22 1234',
        'social security number 536221234',
        // UK NINO
        'AB 12 34 56 C',
        'JG103759A',
        'CE 123456 D',
        // Spanish DNI and NIE
        ...Array.from({ length: 10 }, dni),
        '12345678-Z',
        'X1234567L',
        // French NIR
        '1 85 05 78 006 084 91',
        '1 75 12 2A 123 456 53',
        ...Array.from({ length: 10 }, nir),
        // Dutch BSN after its label
        ...Array.from({ length: 5 }, () => `BSN: ${bsn()}`),
        'burgerservicenummer 1112.22.333',
      ],
    ],
  ];

  for (const [category, values] of cases) {
    it.each(values)(`${category}: %s`, (value) => {
      const detection = detectPii(`Hi, here it is: ${value}. Thanks!`);
      expect(detection.counts).toEqual(only(category));
      expect(detection.categories).toEqual([category]);
      expect(detection.floor).toBe(DEFAULT_PII_RULES[category]);
    });
  }

  it('counts each occurrence, and one value once even where detectors overlap', () => {
    const text =
      'Cards 4111 1111 1111 1111 and 5555 5555 5555 4444; IBAN GB82 WEST 1234 5698 7654 32; NIR 1 85 05 78 006 084 91.';
    expect(detectPii(text).counts).toEqual({ ...NOTHING, card: 2, iban: 1, 'national-id': 1 });
  });

  it('finds a card inside a run of other figures', () => {
    expect(detectPii('paid 2024 4111 1111 1111 1111 2025').counts.card).toBe(1);
  });
});

describe('detectPii: leaves look-alikes alone', () => {
  const pan = card('4', 16);
  it.each([
    ['a card number with a wrong Luhn digit', withWrongLuhnDigit(pan.slice(0, 15))],
    [
      'a grouped card number with a wrong Luhn digit',
      grouped(withWrongLuhnDigit('411111111111111'), [4, 4, 4, 4], ' '),
    ],
    ['a Luhn-valid number outside every issuer range', withLuhnDigit('1' + digits(14))],
    ['a Luhn-valid 16 digits with a 15-digit-only Amex prefix', withLuhnDigit('37' + digits(13))],
    ['an IBAN with wrong check digits', 'GB83 WEST 1234 5698 7654 32'],
    ['an IBAN with a mistyped digit', 'DE89 3704 0044 0532 0130 09'],
    ['an IBAN with a length its country does not use', ibanFor('DE', digits(17))],
    ['an IBAN-shaped code from no IBAN country', ibanFor('QQ', digits(18))],
    ['ISO dates and timestamps', 'released 2024-01-15, built 2024-01-15T10:30:00.123Z, epoch 1700000000123'],
    [
      'European dates, also followed by a time or amount',
      'le 01.02.2024 14:30, le 15/01/2024, 01.02.2024 1500 EUR, 31-12-2023',
    ],
    ['years and counts', 'In 1999 there were 8,232,000 people; by 2020, 9.1 million. Room 204, floor 12.'],
    ['prices', 'Total $1,234,567.89 (€ 1.299,00 + USD 4111111111.11), 12.5% off'],
    ['UUIDs', '123e4567-e89b-12d3-a456-426614174000 and 12345678-1234-1234-1234-123456789012'],
    [
      'git SHAs, even ones starting with card-like digits',
      `4f1c2b7e9a0d3c5b8e6f1a2b3c4d5e6f7a8b9c0d ${pan}abcdef0123456789abcdef01`,
    ],
    [
      'phone-like order, invoice and ticket numbers',
      'Order #415-555-0132, invoice no. 020 7946 0958, ticket: 06 12 34 56 78, ref 0612 345 678',
    ],
    ['a row of figures', '256 512 1024 2048 and 100 20 3000 and 1 2 3 4 5 6 7 8 9 10 11 12 13'],
    ['versions, IPs and ISBNs', 'v1.2.3, 10.0.19045.3803, 192.168.100.200, ISBN 978-3-16-148410-0'],
    [
      'code with numbers',
      'const MAX = 9007199254740991; x = 1e+10; tz = "+05:30"; mask = 0x7fffffff; arr = [2024, 1999, 123456789];',
    ],
    [
      'package specifiers, decorators and asset names',
      'lodash@4.17.21 @nestjs/common @Injectable() icon@2x.png logo@1.5x.webp user@localhost',
    ],
    ['an SSH remote', 'git clone git@github.com:acme/switchyard.git'],
    [
      'an SSN in a never-issued range, or the sample-form placeholder',
      '666-12-3456 900-12-3456 000-12-3456 536-00-1234 536-22-0000 123-45-6789 078-05-1120',
    ],
    ['a bare 9-digit number without an SSN or BSN label', `id ${withLuhnDigit('53622123')} and ${bsn()}`],
    [
      'a NINO with an unallocated prefix or an invalid letter',
      'QQ 12 34 56 C, GB 12 34 56 A, AB 12 34 56 E, DA 12 34 56 A',
    ],
    ['a DNI with the wrong letter', '12345678A'],
    ['a NIR with the wrong key', '1 85 05 78 006 084 36'],
  ])('%s', (_, text) => {
    expect(detectPii(text).counts).toEqual(NOTHING);
  });
});

describe('detectPii: results hold no matched values', () => {
  it('reports categories and counts only, never the text it matched', () => {
    const canary = {
      email: 'canary.zq7x@leak-sentinel.example',
      phone: '+44 20 7946 0958',
      iban: 'GB82 WEST 1234 5698 7654 32',
      card: '4111 1111 1111 1111',
      ssn: '536-22-1234',
    };
    const detection = detectPii(
      `Send to ${canary.email} or call ${canary.phone}; pay ${canary.iban} or ${canary.card}; SSN ${canary.ssn}.`,
    );
    expect(Object.keys(detection).sort()).toEqual(['categories', 'counts', 'floor']);
    expect(detection.counts).toEqual({ email: 1, phone: 1, iban: 1, card: 1, 'national-id': 1 });

    const serialized = JSON.stringify(detection);
    for (const value of Object.values(canary)) {
      const compact = value.replace(/[\s\-()+]/g, '');
      // No 4-character piece of a value survives, spaced or not.
      for (const piece of [value, compact, ...compact.match(/.{4}/g)!]) expect(serialized).not.toContain(piece);
    }
    expect(serialized).not.toMatch(/canary|sentinel|WEST|7946/);
  });
});

describe('detectPii: rules', () => {
  it('does not look for a category that is switched off', () => {
    const detection = detectPii('jane@example.com, 4111 1111 1111 1111', { ...DEFAULT_PII_RULES, card: false });
    expect(detection.counts).toEqual(only('email'));
    expect(detection.floor).toBe('internal');
  });

  it('floor is null when nothing is found', () => {
    expect(detectPii('Nothing to see here.')).toEqual({ categories: [], counts: NOTHING, floor: null });
  });
});

describe('detectPii: throughput', () => {
  it('scans ~10 MB of mixed prose, code, logs and PII (printed, not asserted), counting every planted value', () => {
    const filler = [
      'The quarterly report shows revenue of $1,234,567.89, up 12.5% on 2023. ',
      'Please review the attached document before the meeting on 2024-03-15 at 10:30. ',
      'const timeout = 30000; for (let i = 0; i < 1024; i++) { buf[i] = i * 31 % 256; } ',
      '{"id":"123e4567-e89b-12d3-a456-426614174000","ts":1700000000123,"sha":"4f1c2b7e9a0d3c5b8e6f1a2b3c4d5e6f7a8b9c0d"} ',
      'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore. ',
      'Order 2024-000123 shipped; tracking 1Z999AA10123456784, weight 12.4 kg, 3 items. ',
      'def compute(x):\n    return x ** 2 + 0.5 * x - 1e-9  # see issue #4521\n',
      'Le rendez-vous est fixé au 01.02.2024 à 14h30, salle 204, bâtiment B. ',
      "SELECT * FROM orders WHERE amount > 1000 AND created_at > '2024-01-01' LIMIT 500; ",
    ];
    const planted: Array<[PiiCategory, () => string]> = [
      ['email', () => `Contact jane.doe${between(1, 999)}@example.com today. `],
      ['phone', () => `Call +44 20 7946 ${digits(4)} now. `],
      ['iban', () => `Pay into ${printed(ibanFor('DE', digits(18)))} please. `],
      ['card', () => `Card ${grouped(card('4', 16), [4, 4, 4, 4], ' ')} exp 12/27. `],
      ['national-id', () => `Applicant ${ssn()} on file. `],
    ];
    const expected = Object.fromEntries(PII_CATEGORIES.map((c) => [c, 0])) as Record<PiiCategory, number>;
    const parts: string[] = [];
    let size = 0;
    while (size < 10 * 1024 * 1024) {
      let part: string;
      if (random() < 0.01) {
        const [category, make] = planted[Math.floor(random() * planted.length)];
        expected[category]++;
        part = make();
      } else {
        part = filler[Math.floor(random() * filler.length)];
      }
      parts.push(part);
      size += part.length;
    }
    const text = parts.join('');

    detectPii(text.slice(0, 200_000)); // warm the JIT
    const runs = [0, 1, 2].map(() => {
      const started = process.hrtime.bigint();
      const detection = detectPii(text);
      return { ms: Number(process.hrtime.bigint() - started) / 1e6, detection };
    });
    const best = Math.min(...runs.map((r) => r.ms));
    const mb = text.length / (1024 * 1024);
    console.log(
      JSON.stringify({
        figure: 'detectPii throughput',
        mb: +mb.toFixed(2),
        bestMs: +best.toFixed(0),
        mbPerSec: +(mb / (best / 1000)).toFixed(1),
        counts: runs[0].detection.counts,
      }),
    );
    expect(runs[0].detection.counts).toEqual(expected);
  });
});

// Issue 13 §1: what a model reads as the number, however it is typed. Separators people and attackers put
// between digit groups, format characters that render as nothing, and digits of another width.
const SEPARATORS = [
  ' ',
  '\u2009',
  '\u202f',
  '\u00a0',
  '\u3000',
  '.',
  '-',
  '\u2010',
  '\u2011',
  '\u2012',
  '\u2013',
  '\u2014',
  '\u2015',
  '\u2212',
  '/',
  '_',
];
const DASH_LIKE = ['-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212'];
const INVISIBLE = ['\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad'];
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
const fullwidth = (s: string) => s.replace(/[0-9A-Za-z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 0xfee0));
const zeroWidthEvery = (s: string, zw = '\u200b') => [...s].join(zw);

describe('detectPii: sees through disguises (a corpus per detector)', () => {
  const cases: Array<[PiiCategory, string[]]> = [
    [
      'card',
      [
        '4111.1111.1111.1111',
        '4111/1111/1111/1111',
        '4111_1111_1111_1111',
        '4111 - 1111 - 1111 - 1111',
        '４１１１ １１１１ １１１１ １１１１',
        '４１１１１１１１１１１１１１１１',
        '4111\u20091111\u20091111\u20091111',
        '4111\u202f1111\u202f1111\u202f1111',
        '4111\u20131111\u20131111\u20131111',
        '4111\u22121111\u22121111\u22121111',
        zeroWidthEvery('4111111111111111'),
        zeroWidthEvery('4111 1111 1111 1111', '\u2060'),
        '4111\u00ad1111\u00ad1111\u00ad1111',
        '4111.1111-1111 1111',
        '3782.822463.10005',
      ],
    ],
    [
      'iban',
      [
        'gb82 west 1234 5698 7654 32',
        'de89370400440532013000',
        'DE89-3704-0044-0532-0130-00',
        'de89-3704-0044-0532-0130-00',
        'GB82.WEST.1234.5698.7654.32',
        fullwidth('DE89 3704 0044 0532 0130 00'),
        zeroWidthEvery('DE89370400440532013000'),
        'NL91\u2009ABNA\u20090417\u20091643\u200900',
      ],
    ],
    [
      'national-id',
      [
        '536-22-\u200b1234',
        zeroWidthEvery('536-22-1234'),
        '536\u201322\u20131234',
        '536\u221222\u22121234',
        '５３６－２２－１２３４',
        'SSN: 536.22.1234',
        'SSN 536/22/1234',
        'SSN: 536\u200922\u20091234',
        'AB-12-34-56-C',
        'AB.12.34.56.C',
        '1.85.05.78.006.084.91',
      ],
    ],
    [
      'email',
      ['ｊａｎｅ．ｄｏｅ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'jane.doe\u200b@example.com', 'ja\u00adne@exam\u200dple.com'],
    ],
    [
      'phone',
      [
        '+44\u200920\u20097946\u20090958',
        '＋４４ ２０ ７９４６ ０９５８',
        '415\u2013555\u20130132',
        '+1 (415) 555\u200b-0132',
      ],
    ],
  ];

  for (const [category, values] of cases) {
    it.each(values)(`${category}: %j`, (value) => {
      expect(detectPii(`Hi, here it is: ${value}. Thanks!`).counts).toEqual(only(category));
    });
  }
});

describe('detectPii: every field counts', () => {
  it('adds up what each field holds, and finds a number split across no field boundary', () => {
    const detection = detectPii([
      'instructions: bill 4111.1111.1111.1111',
      'labels',
      'SSN 536 22 1234',
      'jane@example.com',
    ]);
    expect(detection.counts).toEqual({ ...NOTHING, card: 1, 'national-id': 1, email: 1 });
    expect(detection.floor).toBe('restricted');
    // Two fields are two texts: "4111 1111" + "1111 1111" is not a card.
    expect(detectPii(['4111 1111', '1111 1111']).counts).toEqual(NOTHING);
  });
});

/**
 * Property: a valid number mutated at random (a separator run of any kind between its groups, fullwidth
 * characters, format characters anywhere, case) is still found; a number failing its checksum, mutated the
 * same way, is not. Seeded, so a failure names a reproducible case.
 */
describe('detectPii: random disguises of known numbers (property)', () => {
  const CASES = 300;

  /** Joins `groups` with a random separator run at each boundary, some characters fullwidth, some invisibles. */
  function disguise(groups: string[], separators: readonly string[], longestRun = 2): string {
    const joined = groups
      .map(
        (g, i) => (i === 0 ? '' : Array.from({ length: between(1, longestRun) }, () => pick(separators)).join('')) + g,
      )
      .join('');
    return [...joined]
      .map((c) => (random() < 0.3 ? fullwidth(c) : c) + (random() < 0.1 ? pick(INVISIBLE) : ''))
      .join('');
  }
  const groupsOf = (s: string, sizes: number[]) => {
    const out: string[] = [];
    let at = 0;
    for (const size of sizes) out.push(s.slice(at, (at += size)));
    return out;
  };

  const generators: Array<[PiiCategory, () => string, () => string]> = [
    [
      'card',
      () => disguise(groupsOf(card('4', 16), [4, 4, 4, 4]), SEPARATORS),
      () => disguise(groupsOf(withWrongLuhnDigit('4' + digits(14)), [4, 4, 4, 4]), SEPARATORS),
    ],
    [
      'iban',
      () => {
        const iban = ibanFor('DE', digits(18));
        return disguise(groupsOf(random() < 0.5 ? iban.toLowerCase() : iban, [4, 4, 4, 4, 4, 2]), SEPARATORS);
      },
      () => {
        const iban = ibanFor('DE', digits(18));
        const wrong = iban.slice(0, -1) + ((Number(iban.slice(-1)) + 1) % 10);
        return disguise(groupsOf(wrong, [4, 4, 4, 4, 4, 2]), SEPARATORS);
      },
    ],
    [
      'national-id',
      // Unlabelled, an SSN is only the dashed form (one dash of any kind); after its label, any separators.
      () =>
        random() < 0.5 ? disguise(ssn().split('-'), DASH_LIKE, 1) : `SSN: ${disguise(ssn().split('-'), SEPARATORS)}`,
      () =>
        `SSN: ${disguise([`${between(900, 999)}`, String(between(1, 99)).padStart(2, '0'), digits(4)], SEPARATORS)}`,
    ],
  ];

  for (const [category, valid, invalid] of generators) {
    it(`${category}: ${CASES} random disguises of valid numbers are all found`, () => {
      const missed = Array.from({ length: CASES }, valid).filter(
        (v) => detectPii(`Hi, here it is: ${v} thanks`).counts[category] !== 1,
      );
      expect(missed.map((v) => JSON.stringify(v))).toEqual([]);
    });

    it(`${category}: ${CASES} random disguises of numbers failing their check are not`, () => {
      // Only this detector: an IBAN's digit groups can hold a Luhn-valid card run whatever its own check says.
      const found = Array.from({ length: CASES }, invalid).filter(
        (v) => detectPii(`Hi, here it is: ${v} thanks`).counts[category] > 0,
      );
      expect(found.map((v) => JSON.stringify(v))).toEqual([]);
    });
  }

  it(`card: ${CASES} random 16-digit strings failing Luhn, plain or disguised, are never cards`, () => {
    const found = Array.from({ length: CASES }, () => {
      const prefix = pick(['4', '51', '6011']);
      const pan = withWrongLuhnDigit(prefix + digits(15 - prefix.length));
      return random() < 0.5 ? pan : disguise(groupsOf(pan, [4, 4, 4, 4]), SEPARATORS);
    }).filter((v) => detectPii(`ref ${v} end`).counts.card > 0);
    expect(found).toEqual([]);
  });
});

/** `s` with each ASCII digit written as the digit of the same value in the run of Unicode digits from `zero`. */
const inScript = (s: string, zero: number) => s.replace(/[0-9]/g, (d) => String.fromCodePoint(zero + Number(d)));
/** The first code point of every run of ten Unicode decimal digits (category Nd), ASCII's left out. */
const DIGIT_ZEROS = (() => {
  const zeros: number[] = [];
  for (let c = 0x80; c <= 0x1ffff; c++) {
    if (/\p{Nd}/u.test(String.fromCodePoint(c)) && !/\p{Nd}/u.test(String.fromCodePoint(c - 1))) {
      for (let z = c; /\p{Nd}/u.test(String.fromCodePoint(z)); z += 10) zeros.push(z);
    }
  }
  return zeros;
})();
const ARABIC_INDIC = 0x660;
const PERSIAN = 0x6f0;
const DEVANAGARI = 0x966;
const BENGALI = 0x9e6;

// Issue 13 §1, second pass: a card written in Arabic-Indic digits or one group a line reached a cloud
// provider as public. What a model reads as the number, in any script's digits and across line breaks, tabs,
// commas, colons, plus signs, or a space between every digit.
describe('detectPii: digits of any script, and numbers split across lines or digit by digit', () => {
  const cases: Array<[PiiCategory, string[]]> = [
    [
      'card',
      [
        '٤١١١ ١١١١ ١١١١ ١١١١',
        '۴۱۱۱ ۱۱۱۱ ۱۱۱۱ ۱۱۱۱',
        '४१११ ११११ ११११ ११११',
        inScript('4111-1111-1111-1111', BENGALI),
        inScript('5555555555554444', DEVANAGARI),
        '4111 ١١١١ 1111 ۱۱۱۱',
        '4111\n1111\n1111\n1111',
        '4111\r\n1111\r\n1111\r\n1111',
        '4111\t1111\t1111\t1111',
        '4111\u20281111\u20281111\u20281111',
        '4111 1111\n1111 1111',
        '4111,1111,1111,1111',
        '4111, 1111, 1111, 1111',
        '4111:1111:1111:1111',
        '4111+1111+1111+1111',
        '4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1',
        '4-1-1-1-1-1-1-1-1-1-1-1-1-1-1-1',
        '41 11 11 11 11 11 11 11',
        '3 7 8 2 8 2 2 4 6 3 1 0 0 0 5',
        inScript('4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1', ARABIC_INDIC),
      ],
    ],
    [
      'iban',
      [
        inScript('DE89 3704 0044 0532 0130 00', ARABIC_INDIC),
        inScript('GB82 WEST 1234 5698 7654 32', DEVANAGARI),
        'DE89\n3704\n0044\n0532\n0130\n00',
        'GB82\tWEST\t1234\t5698\t7654\t32',
        'DE89,3704,0044,0532,0130,00',
      ],
    ],
    [
      'national-id',
      [
        inScript('536-22-1234', ARABIC_INDIC),
        inScript('536-22-1234', DEVANAGARI),
        `SSN: ${inScript('536221234', PERSIAN)}`,
        'SSN:\n536\n22\n1234',
        'SSN\t536\t22\t1234',
        inScript('1 85 05 78 006 084 91', BENGALI),
        '1\n85\n05\n78\n006\n084\n91',
        'AB\n12\n34\n56\nC',
        'BSN:\n1112\n22\n333',
        inScript('12345678Z', ARABIC_INDIC),
      ],
    ],
    ['phone', [inScript('+44 20 7946 0958', ARABIC_INDIC), inScript('(415) 555-0132', DEVANAGARI)]],
    ['email', [inScript('jane.doe1984@example.com', PERSIAN)]],
  ];

  for (const [category, values] of cases) {
    it.each(values)(`${category}: %j`, (value) => {
      expect(detectPii(`Hi, here it is: ${value}. Thanks!`).counts).toEqual(only(category));
    });
  }

  it(`reads a card written in the digits of every Unicode script (${DIGIT_ZEROS.length} runs of 0–9)`, () => {
    const missed = DIGIT_ZEROS.filter((zero) => {
      const text = `Customer card ${inScript('4111 1111 1111 1111', zero)} on file`;
      return detectPii(text).counts.card !== 1;
    });
    expect(missed.map((zero) => zero.toString(16))).toEqual([]);
  });

  it('still checks what it reads: a card failing Luhn in another script or one group a line is not a card', () => {
    const wrong = grouped(withWrongLuhnDigit('411111111111111'), [4, 4, 4, 4], ' ');
    for (const text of [inScript(wrong, ARABIC_INDIC), wrong.replace(/ /g, '\n'), wrong.replace(/ /g, '')]) {
      expect(detectPii(`card ${text} end`).counts).toEqual(NOTHING);
    }
  });
});

describe('detectPii: leaves figures across lines, commas and colons alone', () => {
  const pan = grouped(card('4', 16), [4, 4, 4, 4], ' ');
  it.each([
    ['dates, times and prices in Arabic-Indic digits', inScript('2024-01-15 10:30, total 1,234.50', ARABIC_INDIC)],
    ['times and a list of small numbers', 'at 10:30:15, then 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13; 1+2+3'],
    ['a column of years and amounts, one a line', '2019\n2020\n2021\n2022\n1500\n2300\n900\n12\n7'],
    // The card's 16 digits sit inside a longer row: a table's figures, not a number a model reads.
    ['a CSV row whose middle figures happen to pass Luhn', `2019,${pan.replace(/ /g, ',')},2025,12`],
    ['a column whose middle figures happen to pass Luhn', `2019\n${pan.replace(/ /g, '\n')}\n2025`],
    ['a tab-separated row whose middle figures happen to pass Luhn', `2019\t${pan.replace(/ /g, '\t')}\t2025`],
    ['a sum of figures', `2019+${pan.replace(/ /g, '+')}+2025`],
  ])('%s', (_, text) => {
    expect(detectPii(text).counts).toEqual(NOTHING);
  });

  it("reads a plus after a label as a phone number's, not as a separator that makes it part of a card", () => {
    // 4915112345678 passes Luhn with a Visa prefix: only the plus says it is a German mobile number.
    expect(detectPii('Mobile: +4915112345678, fax:+4915112345678').counts).toEqual(only('phone', 2));
  });
});
