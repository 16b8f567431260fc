import type { Provider } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import type { RedisClient } from '#libs/redis';
import { BatchIntake, BatchStore, OpenAIBatches } from '#libs/batches';
import { APP_CONFIG, type AppConfig } from '#libs/config';
import { REDIS } from '#libs/redis';

/** The OpenAI batch surface over the intake and the batch store, with the limits a file's lines are held to. */
export const openAIBatchesProvider: Provider = {
  provide: OpenAIBatches,
  inject: [REDIS, APP_CONFIG, BatchIntake, BatchStore],
  useFactory: (redis: RedisClient, c: AppConfig, intake: BatchIntake, store: BatchStore) =>
    new OpenAIBatches(redis, c.prefix, intake, store, {
      maxFileBytes: c.openai.maxFileBytes,
      uploadQuotaBytes: c.openai.uploadQuotaBytes,
      maxLines: c.openai.maxLines,
      maxLineBytes: c.http.maxItemBytes,
      maxOutputTokens: c.maxOutputTokens,
      defaultSensitivity: c.openai.defaultSensitivity,
      localModels: c.localModels.map((m) => m.name),
      resultTtlMs: c.retention.resultTtlMs,
    }),
};

/**
 * Multipart uploads held in memory up to OPENAI_FILE_MAX_BYTES (multer stops reading past it: a 413), one
 * file a request. Only the files controller reads multipart bodies. A file name comes back as it was sent: the
 * SDKs write it as UTF-8 bytes in the part's header without naming a charset, which multer would read as latin1
 * (`données.jsonl` became `donnÃ©es.jsonl`).
 */
export function openAIUploads(config: AppConfig) {
  return MulterModule.register({
    limits: { fileSize: config.openai.maxFileBytes, files: 1, fields: 8 },
    defParamCharset: 'utf8',
  });
}
