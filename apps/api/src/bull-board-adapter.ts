import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { boardJobData } from '#libs/queue';

/**
 * Bull Board's BullMQ adapter, its jobs' payloads shown without the text they carry (boardJobData): an admin key
 * watches the queues; the documents and source files stay with their batches, behind the API's read scopes.
 */
export class TextFreeBullMQAdapter extends BullMQAdapter {
  constructor(...args: ConstructorParameters<typeof BullMQAdapter>) {
    super(...args);
    this.setFormatter('data', boardJobData);
  }
}
