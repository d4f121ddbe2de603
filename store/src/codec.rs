//! Blob codecs: how a blob's plaintext becomes the bytes stored in a pack.
//!
//! Codec byte values (stored per blob in the pack header):
//! `0` raw, `1` zstd. Bit 7 (`0x80`) marks AES-256-GCM encryption layered
//! over either; [`decode`] refuses it (the pack reader opens such blobs
//! with the repository's keys first, FORMAT.md section 15).

/// Stored as-is.
pub const RAW: u8 = 0;
/// A single zstd frame.
pub const ZSTD: u8 = 1;
/// Flag: the stored bytes are sealed (`nonce ‖ ciphertext ‖ tag`).
pub const ENCRYPTED_FLAG: u8 = 0x80;

/// A blob is compressed only when that saves at least this fraction (1/32 ≈ 3%).
const MIN_SAVING_DIVISOR: usize = 32;
/// Blobs larger than this are first sampled, so incompressible data (images,
/// archives) costs one small trial instead of a full compression.
const SAMPLE: usize = 16 * 1024;

/// Encodes a blob: zstd at `level` when it saves space, raw otherwise.
/// Returns the codec byte and the stored bytes.
pub fn encode(level: i32, data: &[u8]) -> (u8, Vec<u8>) {
    if data.len() < 64 {
        return (RAW, data.to_vec());
    }
    if data.len() > 4 * SAMPLE {
        let sample = &data[..SAMPLE];
        match compress(1, sample) {
            Ok(c) if c.len() + c.len() / MIN_SAVING_DIVISOR < sample.len() => {}
            _ => return (RAW, data.to_vec()),
        }
    }
    match compress(level, data) {
        Ok(c) if c.len() + data.len() / MIN_SAVING_DIVISOR <= data.len() => (ZSTD, c),
        _ => (RAW, data.to_vec()),
    }
}

thread_local! {
    /// One zstd decompression context per thread, reused: making one per
    /// blob cost a restore a few percent of its CPU time.
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// This thread's zstd contexts, one per level used.
    static COMPRESSORS: std::cell::RefCell<Vec<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// One zstd frame of `data` at `level`, through a context kept per thread
/// and level: a fresh context per chunk (`zstd::bulk::compress`) costs an
/// allocation and the zeroing of its tables, which was an eighth of a
/// first snapshot's CPU time (`perf`, benches/README.md). The frame is the
/// same bytes either way.
fn compress(level: i32, data: &[u8]) -> std::io::Result<Vec<u8>> {
    COMPRESSORS.with(|cs| {
        let mut cs = cs.borrow_mut();
        let i = match cs.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                cs.push((level, zstd::bulk::Compressor::new(level)?));
                cs.len() - 1
            }
        };
        cs[i].1.compress(data)
    })
}

/// Decodes stored bytes back into the plaintext of `raw_len` bytes.
///
/// # Errors
/// A `String` describing the failure (unknown codec, bad frame, wrong
/// length); the caller wraps it with the blob and pack names.
pub fn decode(codec: u8, stored: &[u8], raw_len: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_into(codec, stored, raw_len, &mut out)?;
    Ok(if codec == RAW { stored.to_vec() } else { out })
}

/// [`decode`] without allocating: a raw blob is `stored` itself, a
/// compressed one is decompressed into `out` (cleared first, its capacity
/// kept), so a caller that reuses `out` decodes every blob into the same
/// memory.
///
/// # Errors
/// As [`decode`].
pub fn decode_into<'a>(
    codec: u8,
    stored: &'a [u8],
    raw_len: usize,
    out: &'a mut Vec<u8>,
) -> Result<&'a [u8], String> {
    let plain: &[u8] = match codec {
        RAW => stored,
        ZSTD => {
            out.clear();
            out.reserve(raw_len);
            DECOMPRESSOR
                .with(|d| match &mut *d.borrow_mut() {
                    Some(d) => d.decompress_to_buffer(stored, out),
                    slot => {
                        let mut fresh = zstd::bulk::Decompressor::new()?;
                        let n = fresh.decompress_to_buffer(stored, out);
                        *slot = Some(fresh);
                        n
                    }
                })
                .map_err(|e| format!("zstd: {e}"))?;
            out
        }
        c if c & ENCRYPTED_FLAG != 0 => {
            return Err("encrypted blob, which this build does not support".into())
        }
        c => return Err(format!("unknown codec {c}")),
    };
    if plain.len() != raw_len {
        return Err(format!("decoded {} bytes, expected {raw_len}", plain.len()));
    }
    Ok(plain)
}

/// Checks a codec byte without decoding.
pub fn known(codec: u8) -> bool {
    codec == RAW || codec == ZSTD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_context_gives_the_frames_a_fresh_one_gives() {
        let texts: Vec<Vec<u8>> = (0..20u32)
            .map(|i| {
                format!(
                    "{{\"n\": {i}, \"pad\": \"{}\"}}\n",
                    "x".repeat(i as usize * 97)
                )
                .repeat(300)
                .into_bytes()
            })
            .collect();
        for level in [1, 3, 1, 19] {
            for t in &texts {
                assert_eq!(
                    compress(level, t).unwrap(),
                    zstd::bulk::compress(t, level).unwrap()
                );
            }
        }
    }

    #[test]
    fn compressible_is_compressed_random_is_raw() {
        let text = b"{\"setting\": true, \"value\": 42}\n".repeat(1000);
        let (c, s) = encode(3, &text);
        assert_eq!(c, ZSTD);
        assert!(s.len() < text.len() / 10);
        assert_eq!(decode(c, &s, text.len()).unwrap(), text);

        let mut noise = vec![0u8; 200_000];
        blake3::Hasher::new().finalize_xof().fill(&mut noise);
        let (c, s) = encode(3, &noise);
        assert_eq!(c, RAW);
        assert_eq!(decode(c, &s, noise.len()).unwrap(), noise);
    }

    #[test]
    fn decode_refuses_unknown_and_wrong_length() {
        assert!(decode(7, b"x", 1).is_err());
        assert!(decode(RAW | ENCRYPTED_FLAG, b"x", 1).is_err());
        assert!(decode(RAW, b"xy", 1).is_err());
    }
}
