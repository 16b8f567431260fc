import { Logger, type INestApplication, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { AppConfig } from '#libs/config';
import { ApiKeyAuthenticator, addressedToLoopback, writeFromAnotherSite } from '#libs/access';
import { MAX_JSON_DEPTH, jsonTooDeepAt } from '#libs/domain';
import { createAccessLog, processLogger } from '#libs/logging';
import { accessLogMiddleware } from './access-log.middleware.js';
import type { RequestWithId } from './access-decorators.js';
import { bearerOf, browserKeyAuth } from './browser-key-auth.js';
import { rememberAuthentication, unauthorized } from './api-key.guard.js';
import { ApiModule } from './api.module.js';
import { HttpErrorsFilter } from './http-errors.filter.js';
import { requestMetrics } from './request-metrics.js';
import { openAIError } from './openai/openai-errors.filter.js';
import { BULL_BOARD_CSP, PAGE_CSP, pageHeaders } from './page-headers.js';
import { unavailableInOutage } from './store-unavailable.js';

/** Builds the API application (used by main.ts and by in-process tests). */
export async function createApiApp(
  config: AppConfig,
  logger: LoggerService | false = processLogger('api', config.log),
): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(config), {
    bodyParser: false,
    logger,
  });
  // First: every request, refused early or not, gets its id and its access line.
  app.use(accessLogMiddleware(createAccessLog(config.log)));
  app.use(requestMetrics());
  app.use(openOnlyToLoopback(app.get(ApiKeyAuthenticator)));
  app.use(authenticatedBodies(app.get(ApiKeyAuthenticator)));
  app.use(express.json({ limit: config.http.maxBodyBytes, verify: refuseDeepJson(MAX_JSON_DEPTH) }));
  app.use(bodyErrors(config.http.maxBodyBytes));
  app.use(jsonBodiesOnly());
  // The pages a browser opens, answered or refused: their CSP, not framed, not cached, not sniffed.
  app.use(['/dashboard', '/docs'], pageHeaders(PAGE_CSP));
  app.use('/admin/queues', pageHeaders(BULL_BOARD_CSP));
  // Registered before init, so it runs ahead of the Bull Board router the module mounts at /admin/queues.
  app.use('/admin/queues', browserKeyAuth(app.get(ApiKeyAuthenticator), { scope: 'admin', realm: 'Switchyard admin' }));
  app.use('/admin/queues/api', unavailableInOutage());
  // The dashboard's routes need read (ApiKeyGuard checks it again); its admin panels ask the caller's scopes.
  app.use('/dashboard', browserKeyAuth(app.get(ApiKeyAuthenticator), { scope: 'read', realm: 'Switchyard' }));
  app.useGlobalFilters(new HttpErrorsFilter());
  // No enableShutdownHooks(): api-process.ts answers the signals (ProcessStop), from before the app exists.
  return app;
}

/**
 * An open API (no key exists) serves only loopback. It listens on 127.0.0.1, but a web page the operator opens is
 * on this machine too: it can re-point its own name at 127.0.0.1 (DNS rebinding) and, same-origin with the API,
 * read every batch's results, uploaded files, the dashboard and Bull Board, so a request must be addressed to
 * loopback by name (addressedToLoopback); and it can send writes that need no CORS preflight (a multipart upload,
 * an empty POST), so one from another site's page is refused (writeFromAnotherSite). A secured API needs a key
 * whatever the Host or the page, so only open mode is asked about (a Redis read only for a request refused here).
 */
function openOnlyToLoopback(authenticator: ApiKeyAuthenticator) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const misaddressed = !addressedToLoopback(req.headers.host);
    const crossSite = writeFromAnotherSite({
      method: req.method,
      fetchSite: req.get('sec-fetch-site'),
      origin: req.get('origin'),
    });
    if (!misaddressed && !crossSite) return next();
    authenticator.isSecured().then((secured) => {
      if (secured) return next();
      const [field, message] = misaddressed
        ? [
            'Host',
            'this API is open (no API key exists): it answers only requests addressed to 127.0.0.1, localhost or [::1]; ' +
              'create an API key to serve it under another name',
          ]
        : [
            'Origin',
            'this API is open (no API key exists): it takes no write from another site’s page; ' +
              'create an API key to call it from a web application',
          ];
      if (req.path.startsWith('/openai/')) res.status(403).json(openAIError(403, message, field));
      else res.status(403).json({ statusCode: 403, error: 'Forbidden', field, message });
    }, next);
  };
}

/**
 * No body is read for a caller without a valid key: an 11 MiB body without one got 413 after being read
 * (issue 13 §7), which lets anyone make the API buffer MAX_BODY_BYTES per request. A request that carries a
 * body is authenticated here, before the body parser; the key's scope is still the guard's to check (a
 * valid key with the wrong scope has its body parsed and gets 403). Open mode has no key to ask for.
 */
function authenticatedBodies(authenticator: ApiKeyAuthenticator) {
  const log = new Logger('access');
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody) return next();
    const authorization = bearerOf(req.headers.authorization);
    authenticator.authenticate(authorization).then((outcome) => {
      if (outcome.mode !== 'denied') {
        rememberAuthentication(req, authorization, outcome);
        return next();
      }
      const { method, requestId } = req as RequestWithId;
      log.warn({
        msg: 'request denied before its body was read',
        status: 401,
        reason: outcome.reason,
        method,
        requestId,
      });
      // Node discards the unread body as it arrives; nothing of it is buffered or parsed.
      const denied = unauthorized(res, outcome.reason);
      // The OpenAI-compatible surface answers in OpenAI's error shape, so its SDKs raise AuthenticationError.
      res.status(401).json(req.path.startsWith('/openai/') ? openAIError(401, denied.message) : denied);
    }, next);
  };
}

/** The one route that reads a body other than JSON: the OpenAI file upload, a multipart form (multer parses it). */
const MULTIPART_ROUTE = /^\/openai\/v1\/files\/?$/;

/**
 * A body the JSON parser left alone (its Content-Type is not JSON) is a 415 naming the header. Without it, `curl -d`
 * (a form's content type) got "body must be a JSON object" for a body that was one.
 */
function jsonBodiesOnly() {
  return (req: Request, res: Response, next: NextFunction): void => {
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (!hasBody || req.body !== undefined) return next();
    const type = req.headers['content-type'];
    if (type?.toLowerCase().startsWith('multipart/form-data') && MULTIPART_ROUTE.test(req.path)) return next();
    const message = `Content-Type must be application/json${type ? `, not ${type.split(';')[0]}` : ''}`;
    if (req.path.startsWith('/openai/')) {
      res.status(415).json(openAIError(415, message, 'Content-Type'));
      return;
    }
    res.status(415).json({ statusCode: 415, error: 'Unsupported Media Type', field: 'Content-Type', message });
  };
}

/**
 * Refuses a body nested deeper than `maxDepth` before it is parsed (body-parser's `verify`, on the raw bytes): a
 * depth checked on the parsed value came after JSON.parse had spent seconds on a 10 MB body of brackets, every
 * other request waiting. A body in another charset than UTF-8 (body-parser takes UTF-16 and UTF-32 too) is decoded
 * for the scan.
 */
function refuseDeepJson(maxDepth: number) {
  return (_req: Request, _res: Response, buf: Buffer, encoding: string): void => {
    const utf8 = /^utf-?8$/i.test(encoding);
    const at = jsonTooDeepAt(utf8 ? buf : Buffer.from(new TextDecoder(encoding).decode(buf), 'utf8'), maxDepth);
    if (at === -1) return;
    throw Object.assign(new Error(`body nests deeper than ${maxDepth} levels (at byte ${at})`), {
      status: 400,
      type: 'entity.too.deep',
    });
  };
}

/**
 * Body-parser failures answered as JSON 4xx naming the body, instead of Express's HTML page; under /openai/ in
 * OpenAI's error shape, as every other error there, so its SDKs read the message and `param`.
 */
function bodyErrors(limit: number) {
  return (
    err: { type?: string; status?: number; message?: string; body?: unknown },
    req: Request,
    res: Response,
    next: NextFunction,
  ) => {
    const refuse = (status: number, error: string | undefined, message: string) => {
      if (req.path.startsWith('/openai/')) res.status(status).json(openAIError(status, message, 'body', null));
      else res.status(status).json({ statusCode: status, ...(error ? { error } : {}), field: 'body', message });
    };
    if (err.type === 'entity.too.large') {
      refuse(413, 'Payload Too Large', `body exceeds the limit of ${limit} bytes`);
    } else if (err.type === 'entity.too.deep') {
      refuse(400, 'Bad Request', err.message ?? 'body nests too deeply');
    } else if (err.type === 'entity.parse.failed') {
      // Strict parsing refuses valid JSON that is not an object or array (`null`, `"text"`, `3`): say which.
      refuse(400, 'Bad Request', parsesAsJson(err.body) ? 'body must be a JSON object' : 'body is not valid JSON');
    } else if (err.status && err.status >= 400 && err.status < 500) {
      refuse(err.status, undefined, err.type ?? 'invalid body');
    } else {
      next(err);
    }
  };
}

function parsesAsJson(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
