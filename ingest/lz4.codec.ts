/**
 * LZ4 for kafkajs (which only ships gzip), via lz4-napi's frame format, the one Kafka uses.
 * Registering is global to kafkajs; every consumer of an lz4-compressed topic needs it too.
 */
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';

export function registerLz4Codec(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => compressFrame(encoder.buffer),
    decompress: async (buffer: Buffer) => decompressFrame(buffer),
  });
}
