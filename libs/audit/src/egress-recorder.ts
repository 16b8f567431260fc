import { Logger } from '@nestjs/common';
import type { EgressAudit, EgressRecord } from '#libs/providers';
import { traceEgressAudit, type EgressFields } from '#libs/telemetry';
import type { AuditEvent, AuditRecorder } from './audit-entry.js';

/**
 * A cloud provider's egress reports, written to the audit trail. The provider only knows the job id
 * (`<batchId>.<index>`, `.r<n>` after a reroute); the item it names is recovered from it here.
 */
export class EgressRecorder implements EgressAudit {
  private readonly log = new Logger('audit');

  constructor(private readonly recorder: AuditRecorder) {}

  async beforeRequest(record: EgressRecord): Promise<void> {
    const event = toEvent('egress', record);
    await traceEgressAudit(spanFieldsOf(event), () => this.write(event));
  }

  async refused(record: EgressRecord & { reason: string }): Promise<void> {
    const event = { ...toEvent('egress-refused', record), reason: record.reason };
    await traceEgressAudit(spanFieldsOf(event), () => this.write(event));
  }

  private async write(event: AuditEvent): Promise<void> {
    try {
      await this.recorder.record([event]);
    } catch (err) {
      this.log.error({
        msg: 'audit write failed',
        kind: event.kind,
        batchId: event.batchId,
        index: event.index,
        provider: event.provider,
        error: err instanceof Error ? err.message : String(err),
      });
      throw err;
    }
  }
}

const JOB_ID = /^(.+)\.(\d+)(?:\.r\d+)?$/;

/** `<batchId>.<index>[.r<n>]` → batch and index; anything else is kept whole as the batch id, index -1. */
export function itemOfJobId(itemRef: string): { batchId: string; index: number } {
  const m = JOB_ID.exec(itemRef);
  return m ? { batchId: m[1], index: Number(m[2]) } : { batchId: itemRef, index: -1 };
}

function spanFieldsOf(e: AuditEvent): EgressFields {
  return {
    kind: e.kind === 'egress-refused' ? 'egress-refused' : 'egress',
    batchId: e.batchId,
    index: e.index,
    provider: e.provider,
    clearance: e.clearance ?? 'unknown',
    sensitivity: e.sensitivity,
    attempt: e.attempt,
  };
}

function toEvent(kind: 'egress' | 'egress-refused', r: EgressRecord): AuditEvent {
  return {
    kind,
    ...itemOfJobId(r.itemRef),
    target: 'cloud',
    provider: r.provider,
    model: r.model,
    clearance: r.clearance,
    sensitivity: r.sensitivity,
    ...(r.attempt > 0 ? { attempt: r.attempt } : {}),
    at: r.at,
  };
}
