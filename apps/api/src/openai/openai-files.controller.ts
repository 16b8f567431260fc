import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Post,
  Query,
  Res,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Response } from 'express';
import { OpenAIBatches, OpenAIRequestError } from '#libs/batches';
import { tenantScope, type Caller } from '#libs/access';
import { CurrentCaller, RequiresScope } from '../access-decorators.js';
import { ApiDoc } from '../openapi/api-doc.decorator.js';
import { boundedInt } from '../query-params.js';
import { streamAnswer } from '../streamed-answer.js';

/** What multer hands over for the one file of a multipart upload (held in memory, bounded by OPENAI_FILE_MAX_BYTES). */
interface UploadedPart {
  originalname: string;
  buffer: Buffer;
}

/** OpenAI's Files API for batch input (issue 16 §1): upload, read, download, delete. */
@Controller('openai/v1/files')
export class OpenAIFilesController {
  constructor(@Inject(OpenAIBatches) private readonly batches: OpenAIBatches) {}

  @Post()
  @HttpCode(200) // as OpenAI answers an upload
  @RequiresScope('submit')
  @UseInterceptors(FileInterceptor('file'))
  @ApiDoc({
    summary: 'Upload a batch input file',
    body: { multipart: 'OpenAIFileUpload' },
    answer: { description: 'The File object', json: 'OpenAIFile' },
    errorSchema: 'OpenAIError',
    errors: {
      400: 'No `file` part, `purpose` is not "batch", or `expires_after` is not OpenAI\'s policy: `error.param` names it',
      413: 'The file is over OPENAI_FILE_MAX_BYTES',
    },
  })
  async upload(
    @UploadedFile() file: UploadedPart | undefined,
    @Body('purpose') purpose: unknown,
    @Body('expires_after') expiresAfter: unknown,
    @CurrentCaller() caller: Caller | null,
  ) {
    if (!file) throw new OpenAIRequestError(400, 'file is required: a multipart part named "file"', 'file');
    return this.batches.uploadFile(
      { filename: file.originalname, purpose, content: file.buffer, expiresAfter },
      caller?.tenant ?? null,
    );
  }

  @Get()
  @RequiresScope('read')
  @ApiDoc({
    summary: 'List uploaded files',
    description: 'The caller’s uploads (an admin key: every tenant’s), newest first; OpenAI’s list shape and cursor.',
    query: {
      after: {
        description: 'A file id: list those after it in this order (OpenAI’s cursor)',
        schema: { type: 'string' },
      },
      limit: {
        description: 'Most files (1–10000, default 10000)',
        schema: { type: 'integer', minimum: 1, maximum: 10000 },
      },
      order: {
        description: '`desc` (newest first, the default) or `asc`',
        schema: { type: 'string', enum: ['asc', 'desc'] },
      },
      purpose: { description: 'Only files of this purpose (all uploads here are `batch`)', schema: { type: 'string' } },
    },
    answer: { description: 'OpenAI’s list of File objects', json: 'OpenAIFileList' },
    errorSchema: 'OpenAIError',
    errors: { 400: '`after` names no file, or `limit` or `order` is out of range: `error.param` names it' },
  })
  async list(
    @CurrentCaller() caller: Caller | null,
    @Query('after') after?: string,
    @Query('limit') limit?: string,
    @Query('order') order?: string,
    @Query('purpose') purpose?: string,
  ) {
    if (order !== undefined && order !== 'asc' && order !== 'desc')
      throw new OpenAIRequestError(400, 'order must be "asc" or "desc"', 'order');
    return this.batches.listFiles(tenantScope(caller), {
      after,
      limit: boundedInt('limit', limit, 10_000, 1, 10_000),
      order: order ?? 'desc',
      purpose,
    });
  }

  @Get(':id')
  @RequiresScope('read')
  @ApiDoc({
    summary: 'Read a file',
    description: 'An upload, or a finished batch’s output or error file (`file-output-…`, `file-errors-…`).',
    answer: { description: 'The File object', json: 'OpenAIFile' },
    errorSchema: 'OpenAIError',
    errors: { 404: 'No such file (or another tenant’s)' },
  })
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.getFile(id, tenantScope(caller))) ?? notFound(id);
  }

  /** The file's JSONL, streamed: a generated output file is read from the batch's items a page at a time. */
  @Get(':id/content')
  @RequiresScope('read')
  @ApiDoc({
    summary: 'Download a file’s content',
    description:
      'An upload as it was sent; an output file one `{id, custom_id, response, error}` line per completed request, ' +
      'an error file one per request that failed, was cancelled or expired, or was never run.',
    answer: { description: 'The file’s JSONL', text: 'application/jsonl' },
    errorSchema: 'OpenAIError',
    errors: { 404: 'No such file (or another tenant’s)' },
  })
  async content(@Param('id') id: string, @CurrentCaller() caller: Caller | null, @Res() res: Response): Promise<void> {
    const lines = (await this.batches.fileContent(id, tenantScope(caller))) ?? notFound(id);
    res.status(200).type('application/jsonl');
    await streamAnswer(res, lines);
  }

  @Delete(':id')
  @RequiresScope('submit')
  @ApiDoc({
    summary: 'Delete an uploaded file',
    answer: { description: 'OpenAI’s deleted object', json: 'OpenAIFileDeleted' },
    errorSchema: 'OpenAIError',
    errors: {
      400: 'A batch’s output or error file: it goes with the batch',
      404: 'No such upload (or another tenant’s)',
    },
  })
  async delete(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.deleteFile(id, tenantScope(caller))) ?? notFound(id);
  }
}

function notFound(id: string): never {
  throw new OpenAIRequestError(404, `No such File object: ${id}`, 'id');
}
