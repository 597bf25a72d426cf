/**
 * LZ4 for kafkajs (which only ships gzip), via lz4-napi's frame format, the one Kafka uses.
 * Registering is global to kafkajs; every consumer of an lz4-compressed topic needs it too.
 */
import kafkajs from 'kafkajs';
import { compressFrame, decompressFrame } from 'lz4-napi';

// CompressionCodecs is not among kafkajs's ESM named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

export function registerLz4Codec(): void {
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }) => compressFrame(encoder.buffer),
    decompress: async (buffer: Buffer) => decompressFrame(buffer),
  });
}
