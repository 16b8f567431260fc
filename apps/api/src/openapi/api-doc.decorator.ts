import { SetMetadata } from '@nestjs/common';
import type { AnswerSchemaName, JsonSchema, RequestSchemaName } from './api-schemas.js';

export const API_DOC = 'switchyard:api-doc';

/**
 * An error status an operation may answer beyond those every route gets (401, 403, 429; 400 and 413 with a
 * body); naming 400 or 413 here replaces the builder's own wording of them.
 */
export type DocumentedError = 400 | 404 | 409 | 413 | 422 | 503;

/**
 * What the code cannot say about a route: a summary, what its query parameters take, and the shapes of its
 * answers. Method, path, path parameters, the success status, the scope, and which query parameters and
 * headers the handler reads come from Nest's own metadata (openapi/nest-routes.ts); the document builder
 * refuses a query parameter or header described here that the handler does not read, or read and not described.
 */
export interface OperationDoc {
  summary: string;
  description?: string;
  /** Query parameters the handler reads with @Query(name). */
  query?: Record<string, { description: string; schema: JsonSchema }>;
  /** Headers the handler reads with @Headers(name), by their canonical spelling. */
  headers?: Record<string, { description: string }>;
  /**
   * The request body's component schema, sent as JSON; or `{ multipart }`: the fields of a multipart/form-data
   * form (a file upload). Required when the handler reads @Body().
   */
  body?: RequestSchemaName | { multipart: RequestSchemaName };
  /** The success answer: JSON, NDJSON lines or text, each with its schema. */
  answer: {
    description: string;
    json?: AnswerSchemaName;
    ndjson?: AnswerSchemaName;
    /** Media type of a plain-text answer (text/x-diff, text/html). */
    text?: string;
    /** Where the created or accepted resource is, as a path template (`/v1/batches/{id}`): the Location header. */
    location?: string;
  };
  /** Further error answers and when they happen. */
  errors?: Partial<Record<DocumentedError, string>>;
  /**
   * The shape of every error answer of the route, when it is not the native Error: the /openai/v1 routes
   * answer OpenAI's `{error: {message, type, param, code}}` (OpenAIErrorsFilter), which the openai SDKs read.
   */
  errorSchema?: AnswerSchemaName;
}

/** Describes a handler for /openapi.json (small metadata; the rest is read from the route itself). */
export const ApiDoc = (doc: OperationDoc) => SetMetadata(API_DOC, doc);
