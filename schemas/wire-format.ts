/** Confluent wire format (contract 2): magic byte 0, 4-byte big-endian schema id, Avro binary. */
import { TwinlaneError } from '../core/errors.ts';

export const MAGIC_BYTE = 0;
export const HEADER_SIZE = 5;

export class WireFormatError extends TwinlaneError {
  constructor(message: string) {
    super('PAYLOAD_FORMAT', message, { retriable: false });
  }
}

export function frame(schemaId: number, avro: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + avro.length);
  out[0] = MAGIC_BYTE;
  out.writeUInt32BE(schemaId, 1);
  avro.copy(out, HEADER_SIZE);
  return out;
}

/** The schema id of a framed message, checked like unframe() but without slicing the payload. */
export function schemaIdOf(buf: Buffer | null | undefined): number {
  if (!buf || buf.length < HEADER_SIZE) throw new WireFormatError(`message of ${buf?.length ?? 0} bytes is shorter than the 5-byte Confluent header`);
  if (buf[0] !== MAGIC_BYTE) throw new WireFormatError(`first byte is ${buf[0]}, expected the Confluent magic byte 0`);
  return buf.readUInt32BE(1);
}

export function unframe(buf: Buffer | null | undefined): { schemaId: number; payload: Buffer } {
  const schemaId = schemaIdOf(buf);
  return { schemaId, payload: buf!.subarray(HEADER_SIZE) };
}
