import type { NextFunction, Request, Response } from 'express';

/**
 * The dashboard and /docs: server-rendered HTML that runs no script and loads nothing (inline styles only). No
 * other site may frame them (frame-ancestors: default-src does not cover it), and a stray <base> or <form> could
 * point nowhere else.
 */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Bull Board: its own scripts, styles, images and translations from its static folder, its JSON calls to its own
 * /api. Nothing from elsewhere: its page links Google Fonts, which sent each visit to Google and, where the
 * API has no way out, held the page on a stylesheet that never came; the board falls back to the system fonts.
 */
export const BULL_BOARD_CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; " +
  "frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/**
 * Headers for the pages a browser opens under `mount` (the dashboard, /docs, Bull Board), set before the page is
 * rendered or refused, so a 401 or 404 there carries them too. The pages show batch and item ids, routes, job
 * data and failure reasons: not stored by the browser (no-store), not sniffed into another type, not framed by
 * another site, and their URLs (which carry batch ids) not sent on as a Referer. Bull Board's scripts and styles
 * under `static/` have content-hashed names and hold no data: those stay cacheable.
 */
export function pageHeaders(csp: string) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    // For browsers that predate frame-ancestors.
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    if (!req.path.startsWith('/static/')) res.setHeader('Cache-Control', 'no-store');
    next();
  };
}
