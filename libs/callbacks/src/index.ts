// The face of libs/callbacks: what other libs, the apps and the tests use. Import it as '#libs/callbacks'.
export { CallbackAddressGuard } from './callback-address.js';
export {
  DEFAULT_CALLBACK_EVENTS,
  batchFinishedBody,
  callbackEventId,
  parseCallbackEventId,
  itemFinishedBody,
  type CallbackBody,
} from './callback-events.js';
export { CallbackSecrets } from './callback-secrets.js';
export { CallbackRefused, CallbackSender, type CallbackDelivery, type CallbackResponse } from './callback-sender.js';
export { DEFAULT_TOLERANCE_S, SIGNATURE_HEADER, signatureHeader, verifySignature } from './callback-signature.js';
export { callbackUrlProblem } from './callback-url.js';
export { CallbacksModule } from './callbacks.module.js';
