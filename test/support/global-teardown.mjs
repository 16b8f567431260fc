export default async function globalTeardown() {
  await globalThis.__SWITCHYARD_REDIS__?.stop();
}
