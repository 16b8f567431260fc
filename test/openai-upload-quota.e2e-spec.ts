import { beforeAll, describe, expect, it } from '@jest/globals';
import OpenAI, { APIError, toFile } from 'openai';
import { useSystem } from './support/use-system.js';

const KEY = 'admin-key-for-the-upload-quota-e2e';

/**
 * Uploads live in Redis, which evicts nothing: one key uploading as fast as its request limit allows filled it for
 * every tenant. A tenant keeps OPENAI_UPLOAD_QUOTA_BYTES of uploads at once; the official SDK sees a 413 past it.
 */
describe('the uploads a tenant keeps at once, through the openai SDK', () => {
  const sys = useSystem({ ADMIN_API_KEY: KEY, OPENAI_FILE_MAX_BYTES: '2000', OPENAI_UPLOAD_QUOTA_BYTES: '3000' });
  let client: OpenAI;
  beforeAll(() => {
    client = new OpenAI({ baseURL: `${sys.url}/openai/v1`, apiKey: KEY, maxRetries: 0 });
  });
  const upload = async (bytes: number) =>
    client.files.create({ file: await toFile(Buffer.alloc(bytes, 0x61), 'input.jsonl'), purpose: 'batch' });

  it('takes uploads up to the allowance, refuses the next with a 413 the SDK raises, and takes it again after a delete', async () => {
    const first = await upload(1500);
    await upload(1500);
    const refused = await upload(1).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(APIError);
    expect(refused).toMatchObject({ status: 413, code: 'storage_quota_exceeded', param: 'file' });
    expect((refused as APIError).message).toMatch(/OPENAI_UPLOAD_QUOTA_BYTES/);

    expect(await client.files.delete(first.id)).toMatchObject({ id: first.id, deleted: true });
    expect(await upload(1500)).toMatchObject({ object: 'file', bytes: 1500 });
  });
});
