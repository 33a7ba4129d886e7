import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeUtf8 } from '../../src/web/body.js';
import { HttpError } from '../../src/web/errors.js';

const reference = new TextDecoder('utf-8', { fatal: true });

/** What a fatal TextDecoder makes of the bytes: the text, or null when they are not UTF-8. */
function decodeLikeTextDecoder(bytes: Uint8Array): string | null {
  try {
    return reference.decode(bytes);
  } catch {
    return null;
  }
}

function decoded(bytes: Uint8Array): string | null {
  try {
    return decodeUtf8(Buffer.from(bytes));
  } catch (error) {
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
    return null;
  }
}

describe('decodeUtf8', () => {
  it('agrees with a fatal TextDecoder on arbitrary bytes (BOM dropped, invalid refused)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(decoded(bytes)).toBe(decodeLikeTextDecoder(bytes));
      }),
      { numRuns: 20_000 },
    );
  });

  it('agrees on valid text with and without a leading BOM, and on near-misses', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 255 }),
        (text, bom, extra) => {
          const body = Buffer.concat([
            bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0),
            Buffer.from(text, 'utf8'),
          ]);
          expect(decoded(body)).toBe(decodeLikeTextDecoder(body));
          const broken = Buffer.concat([body, Buffer.from([extra])]);
          expect(decoded(broken)).toBe(decodeLikeTextDecoder(broken));
        },
      ),
      { numRuns: 5_000 },
    );
    expect(decoded(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toBe('{}');
    expect(decoded(Buffer.from([0xed, 0xa0, 0x80]))).toBeNull(); // an encoded surrogate
    expect(decoded(Buffer.from([0xc0, 0xaf]))).toBeNull(); // an overlong '/'
    // U+FFFD itself is valid text (decoding turns invalid bytes into it: the bytes are checked)
    expect(decoded(Buffer.from('a\uFFFDb', 'utf8'))).toBe('a\uFFFDb');
    expect(decoded(Buffer.from([0x61, 0xef, 0xbf, 0xbd, 0xff]))).toBeNull();
  });
});
