/**
 * The rollout workflows' payload converter: Temporal's default converter, except that a payload it cannot decode (an
 * unknown encoding, bytes that are not JSON) becomes an {@link UndecodablePayload} value instead of an exception.
 * The default would throw while the SDK decodes a signal's or update's arguments, before any handler runs, and fail
 * every workflow task from then on: one hostile signal would wedge the rollout. With this converter the handler sees
 * the marker, and the message is refused in the ops log like any other payload that does not parse.
 *
 * Bundled into the workflow code (`payloadConverterPath`) and used by the worker; see {@link workflowCodeOptions}.
 */
import { DefaultPayloadConverter, type Payload, type PayloadConverter } from '@temporalio/common';

/** The key of the value that stands in for a payload that could not be decoded. */
export const UNDECODABLE = '__canaryUndecodablePayload';

export interface UndecodablePayload {
  /** Why it could not be decoded, with the payload's encoding. */
  [UNDECODABLE]: string;
}

/** True for the stand-in of a payload that could not be decoded. */
export function isUndecodable(value: unknown): value is UndecodablePayload {
  return typeof value === 'object' && value !== null && typeof (value as Record<string, unknown>)[UNDECODABLE] === 'string';
}

class TolerantPayloadConverter implements PayloadConverter {
  private readonly inner = new DefaultPayloadConverter();

  toPayload<T>(value: T): Payload {
    return this.inner.toPayload(value);
  }

  fromPayload<T>(payload: Payload): T {
    try {
      return this.inner.fromPayload<T>(payload);
    } catch (err) {
      const encoding = payload.metadata?.encoding ? new TextDecoder().decode(payload.metadata.encoding) : 'none';
      const why = err instanceof Error ? err.message : String(err);
      return { [UNDECODABLE]: `payload (encoding ${encoding.slice(0, 100)}) could not be decoded: ${why.slice(0, 300)}` } as T;
    }
  }
}

export const payloadConverter: PayloadConverter = new TolerantPayloadConverter();
