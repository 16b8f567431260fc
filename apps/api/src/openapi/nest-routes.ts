import { RequestMethod, type Type } from '@nestjs/common';
import { HTTP_CODE_METADATA, METHOD_METADATA, PATH_METADATA, ROUTE_ARGS_METADATA } from '@nestjs/common/constants.js';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum.js';
import type { Requirement } from '#libs/access';
import { REQUIREMENT, SUBMITS_TOKENS } from '../access-decorators.js';
import { API_DOC, type OperationDoc } from './api-doc.decorator.js';

export type HttpMethod = 'get' | 'post' | 'put' | 'delete' | 'patch';

/** One route as Nest will serve it, read from the decorators on its controller and handler. */
export interface ServedRoute {
  method: HttpMethod;
  /** Express form, as Nest maps it: `/v1/batches/:id/items`. */
  path: string;
  controller: string;
  handler: string;
  /** The scope ApiKeyGuard asks for (admin where nothing is declared), or public. */
  requirement: Requirement;
  /** The status Nest answers on success: @HttpCode, else 201 for POST and 200 otherwise. */
  successStatus: number;
  /** Names read with @Query(name), @Headers(name) (lower case), and whether @Body() is read. */
  query: string[];
  headers: string[];
  body: boolean;
  /** The handler's submitted items count against the key's tokens per minute (413 when they never fit). */
  submitsTokens: boolean;
  doc: OperationDoc | undefined;
}

const METHODS: Partial<Record<RequestMethod, HttpMethod>> = {
  [RequestMethod.GET]: 'get',
  [RequestMethod.POST]: 'post',
  [RequestMethod.PUT]: 'put',
  [RequestMethod.DELETE]: 'delete',
  [RequestMethod.PATCH]: 'patch',
};

/**
 * Every route of these controllers, from the metadata Nest's router reads to map them. Nothing here is a
 * hand list: a new handler is a new route, documented or not (the builder refuses it without @ApiDoc).
 */
export function servedRoutes(controllers: readonly Type[]): ServedRoute[] {
  return controllers.flatMap((controller) => {
    const prefixes = pathsOf(Reflect.getMetadata(PATH_METADATA, controller));
    const proto = controller.prototype as Record<string, unknown>;
    return Object.getOwnPropertyNames(proto).flatMap((handler) => {
      const fn = proto[handler];
      if (handler === 'constructor' || typeof fn !== 'function') return [];
      const methodCode = Reflect.getMetadata(METHOD_METADATA, fn) as RequestMethod | undefined;
      if (methodCode === undefined) return [];
      const method = METHODS[methodCode];
      if (!method)
        throw new Error(`${controller.name}.${handler}: method ${RequestMethod[methodCode]} is not described`);
      const args = readArgs(controller, handler);
      const requirement =
        (Reflect.getMetadata(REQUIREMENT, fn) as Requirement | undefined) ??
        (Reflect.getMetadata(REQUIREMENT, controller) as Requirement | undefined) ??
        'admin';
      const httpCode = Reflect.getMetadata(HTTP_CODE_METADATA, fn) as number | undefined;
      return prefixes.flatMap((prefix) =>
        pathsOf(Reflect.getMetadata(PATH_METADATA, fn)).map((sub) => ({
          method,
          path: joinPath(prefix, sub),
          controller: controller.name,
          handler,
          requirement,
          successStatus: httpCode ?? (method === 'post' ? 201 : 200),
          ...args,
          submitsTokens: Reflect.getMetadata(SUBMITS_TOKENS, fn) === true,
          doc: Reflect.getMetadata(API_DOC, fn) as OperationDoc | undefined,
        })),
      );
    });
  });
}

/** `/v1/batches/:id` → `/v1/batches/{id}`, and its parameter names. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const templated = path.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: templated, params };
}

function readArgs(controller: Type, handler: string): Pick<ServedRoute, 'query' | 'headers' | 'body'> {
  const meta = (Reflect.getMetadata(ROUTE_ARGS_METADATA, controller, handler) ?? {}) as Record<
    string,
    { data?: unknown }
  >;
  const query: string[] = [];
  const headers: string[] = [];
  let body = false;
  for (const [key, { data }] of Object.entries(meta)) {
    const type = Number(key.split(':')[0]);
    if (type === RouteParamtypes.QUERY && typeof data === 'string') query.push(data);
    else if (type === RouteParamtypes.HEADERS && typeof data === 'string') headers.push(data.toLowerCase());
    else if (type === RouteParamtypes.BODY) body = true;
    else if (type === RouteParamtypes.QUERY || type === RouteParamtypes.HEADERS)
      throw new Error(`${controller.name}.${handler}: reads every query parameter or header; name the ones it reads`);
  }
  return { query, headers, body };
}

function pathsOf(meta: unknown): string[] {
  if (Array.isArray(meta)) return meta.map(String);
  return [typeof meta === 'string' ? meta : '/'];
}

/** As Nest joins a controller's path and a handler's: one leading slash, none trailing. */
function joinPath(prefix: string, sub: string): string {
  const parts = [prefix, sub].map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p !== '');
  return `/${parts.join('/')}`;
}
