import type { Detector } from './detector.js';

// Character classes as lookup tables: the scan walks outwards from each "@" instead of running a
// regex with a leading `[…]+`, which would re-scan every word of the text from each of its letters.
const LOCAL_CHAR = new Uint8Array(128);
const DOMAIN_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  const alnum = /[A-Za-z0-9]/.test(ch);
  LOCAL_CHAR[c] = alnum || "._%+-'".includes(ch) ? 1 : 0;
  DOMAIN_CHAR[c] = alnum || '.-'.includes(ch) ? 1 : 0;
}
const MAX_LOCAL = 64;
const MAX_DOMAIN = 253;
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const TOP_LEVEL = /^[A-Za-z]{2,24}$/;
// `icon@2x.png`, `logo@1.5x.webp`: retina asset names, not addresses.
const ASSET_SCALE = /^\d+(?:\.\d+)?x\./;

const isLocalChar = (c: number) => c < 128 && LOCAL_CHAR[c] === 1;
const isDomainChar = (c: number) => c < 128 && DOMAIN_CHAR[c] === 1;

/** Email addresses: a local part, "@", and a domain of at least two labels ending in an alphabetic TLD. */
export const emailDetector: Detector = {
  category: 'email',
  scan(text, found) {
    for (let at = text.indexOf('@'); at !== -1; at = text.indexOf('@', at + 1)) {
      let start = at;
      while (start > 0 && at - start <= MAX_LOCAL && isLocalChar(text.charCodeAt(start - 1))) start--;
      if (at - start > MAX_LOCAL) continue; // part of a longer token, such as base64
      while (start < at && text.charCodeAt(start) === 46 /* . */) start++; // "...jane@": leading dots are punctuation
      const local = text.slice(start, at);
      if (local === '' || local.endsWith('.') || local.includes('..')) continue;

      let end = at + 1;
      let dots = 0;
      for (
        let c = text.charCodeAt(end);
        end < text.length && end - at <= MAX_DOMAIN && isDomainChar(c);
        c = text.charCodeAt(++end)
      ) {
        if (c === 46) dots++;
      }
      if (dots === 0) continue; // "a@b", "@Injectable", "user@localhost": no domain with a TLD
      // A sentence's full stop or a trailing hyphen is not part of the domain.
      while (end > at + 1 && (text.charCodeAt(end - 1) === 46 || text.charCodeAt(end - 1) === 45)) end--;
      const domain = text.slice(at + 1, end);
      if (ASSET_SCALE.test(domain)) continue;
      if (local === 'git' && text.charCodeAt(end) === 58 /* : */) continue; // git@github.com:org/repo.git, an SSH remote
      const labels = domain.split('.');
      if (labels.length < 2 || !TOP_LEVEL.test(labels[labels.length - 1])) continue;
      if (!labels.every((label) => LABEL.test(label))) continue;
      found(start, end);
    }
  },
};
