//! Content-defined chunking (FastCDC 2020) with the repository's parameters.

use std::io::Read;

use snap_store::ChunkerParams;

/// The parameters new repositories get, chosen by measurement on a
/// profile-like corpus (see `benches/CHUNKING.md`).
pub const DEFAULT_PARAMS: ChunkerParams = ChunkerParams {
    min_size: 4 * 1024,
    avg_size: 16 * 1024,
    max_size: 64 * 1024,
};

/// Calls `each` with every chunk of `reader`, in order; returns bytes read.
///
/// # Errors
/// The reader's I/O errors, or the first error `each` returns.
pub fn for_each_chunk<E: From<std::io::Error>>(
    reader: impl Read,
    p: &ChunkerParams,
    mut each: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<u64, E> {
    let mut total = 0u64;
    for chunk in fastcdc::v2020::StreamCDC::new(
        reader,
        p.min_size as usize,
        p.avg_size as usize,
        p.max_size as usize,
    ) {
        let chunk = chunk.map_err(|e| match e {
            fastcdc::v2020::Error::IoError(io) => E::from(io),
            other => E::from(std::io::Error::other(other.to_string())),
        })?;
        total += chunk.data.len() as u64;
        each(&chunk.data)?;
    }
    Ok(total)
}

/// Why chunking one stream stopped: reading the stream (for `create`, a
/// warning about that file; for `import`, the archive's error) or storing
/// its chunks (fatal).
pub(crate) enum ChunkError {
    /// Reading the stream.
    Read(std::io::Error),
    /// Storing a chunk.
    Repo(crate::Error),
}

impl From<std::io::Error> for ChunkError {
    fn from(e: std::io::Error) -> Self {
        ChunkError::Read(e)
    }
}
