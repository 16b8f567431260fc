import {
  Body,
  Controller,
  Delete,
  Get,
  Inject,
  Param,
  Post,
  Res,
  UploadedFile,
  UseFilters,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Response } from 'express';
import { OpenAIBatches, OpenAIRequestError } from '#libs/batches';
import { tenantScope, type Caller } from '#libs/access';
import { CurrentCaller, RequiresScope } from '../access-decorators.js';
import { OpenAIErrorsFilter } from './openai-errors.filter.js';

/** What multer hands over for the one file of a multipart upload (held in memory, bounded by OPENAI_FILE_MAX_BYTES). */
interface UploadedPart {
  originalname: string;
  buffer: Buffer;
}

/** OpenAI's Files API for batch input (issue 16 §1): upload, read, download, delete. */
@Controller('openai/v1/files')
@UseFilters(OpenAIErrorsFilter)
export class OpenAIFilesController {
  constructor(@Inject(OpenAIBatches) private readonly batches: OpenAIBatches) {}

  @Post()
  @RequiresScope('submit')
  @UseInterceptors(FileInterceptor('file'))
  async upload(
    @UploadedFile() file: UploadedPart | undefined,
    @Body('purpose') purpose: unknown,
    @CurrentCaller() caller: Caller | null,
  ) {
    if (!file) throw new OpenAIRequestError(400, 'file is required: a multipart part named "file"', 'file');
    return this.batches.uploadFile(
      { filename: file.originalname, purpose, content: file.buffer },
      caller?.tenant ?? null,
    );
  }

  @Get(':id')
  @RequiresScope('read')
  async get(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.getFile(id, tenantScope(caller))) ?? notFound(id);
  }

  /** The file's JSONL, streamed: a generated output file is read from the batch's items a page at a time. */
  @Get(':id/content')
  @RequiresScope('read')
  async content(@Param('id') id: string, @CurrentCaller() caller: Caller | null, @Res() res: Response): Promise<void> {
    const lines = (await this.batches.fileContent(id, tenantScope(caller))) ?? notFound(id);
    res.status(200).type('application/jsonl');
    for await (const chunk of lines) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  }

  @Delete(':id')
  @RequiresScope('submit')
  async delete(@Param('id') id: string, @CurrentCaller() caller: Caller | null) {
    return (await this.batches.deleteFile(id, tenantScope(caller))) ?? notFound(id);
  }
}

function notFound(id: string): never {
  throw new OpenAIRequestError(404, `No such File object: ${id}`, 'id');
}
