//! Builders of raw ZIP archives, byte by byte, for tests of the import
//! validator here and in the workspace's end-to-end tests (the zip crate
//! would refuse to write most of these). Not part of the stable API.

use std::io::Write;

#[derive(Clone, Debug)]
/// One entry to write raw.
pub struct Raw {
    /// Field of the entry.
    pub name: Vec<u8>,
    /// Field of the entry.
    pub data: Vec<u8>,
    /// Field of the entry.
    pub method: u16,
    /// Field of the entry.
    pub flags: u16,
    /// Field of the entry.
    pub crc: u32,
    /// Field of the entry.
    pub csize: u32,
    /// Field of the entry.
    pub usize: u32,
    /// Field of the entry.
    pub mode: u32,
    /// Field of the entry.
    pub zip64_usize: Option<u64>,
}

/// Builder (see the module doc).
pub fn file(name: &[u8], data: &[u8]) -> Raw {
    Raw {
        name: name.to_vec(),
        data: data.to_vec(),
        method: 0,
        flags: 0,
        crc: crc32fast::hash(data),
        csize: data.len() as u32,
        usize: data.len() as u32,
        mode: 0o100644,
        zip64_usize: None,
    }
}

/// Builder (see the module doc).
pub fn link(name: &[u8], target: &[u8]) -> Raw {
    Raw {
        mode: 0o120777,
        ..file(name, target)
    }
}

/// Builder (see the module doc).
pub fn deflated(name: &[u8], plain: &[u8]) -> Raw {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(plain).unwrap();
    let data = enc.finish().unwrap();
    Raw {
        method: 8,
        csize: data.len() as u32,
        usize: plain.len() as u32,
        crc: crc32fast::hash(plain),
        data,
        ..file(name, b"")
    }
}

/// Builder (see the module doc).
pub fn local_header(e: &Raw) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(&e.flags.to_le_bytes());
    h.extend_from_slice(&e.method.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&0x21u16.to_le_bytes());
    h.extend_from_slice(&e.crc.to_le_bytes());
    h.extend_from_slice(&e.csize.to_le_bytes());
    h.extend_from_slice(&e.usize.to_le_bytes());
    h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&e.name);
    h
}

/// Builder (see the module doc).
pub fn central(e: &Raw, offset: u32) -> Vec<u8> {
    let extra: Vec<u8> = match e.zip64_usize {
        Some(u) => [
            &1u16.to_le_bytes()[..],
            &8u16.to_le_bytes(),
            &u.to_le_bytes(),
        ]
        .concat(),
        None => Vec::new(),
    };
    let mut h = Vec::new();
    h.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    h.extend_from_slice(&0x0314u16.to_le_bytes());
    h.extend_from_slice(&20u16.to_le_bytes());
    h.extend_from_slice(&e.flags.to_le_bytes());
    h.extend_from_slice(&e.method.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h.extend_from_slice(&0x21u16.to_le_bytes());
    h.extend_from_slice(&e.crc.to_le_bytes());
    h.extend_from_slice(&e.csize.to_le_bytes());
    h.extend_from_slice(
        &(if e.zip64_usize.is_some() {
            u32::MAX
        } else {
            e.usize
        })
        .to_le_bytes(),
    );
    h.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    h.extend_from_slice(&[0u8; 6]);
    h.extend_from_slice(&(e.mode << 16).to_le_bytes());
    h.extend_from_slice(&offset.to_le_bytes());
    h.extend_from_slice(&e.name);
    h.extend_from_slice(&extra);
    h
}

/// Builder (see the module doc).
pub fn eocd(count: u16, cd_size: u32, cd_off: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    h.extend_from_slice(&[0u8; 4]);
    h.extend_from_slice(&count.to_le_bytes());
    h.extend_from_slice(&count.to_le_bytes());
    h.extend_from_slice(&cd_size.to_le_bytes());
    h.extend_from_slice(&cd_off.to_le_bytes());
    h.extend_from_slice(&0u16.to_le_bytes());
    h
}

/// Lays out entries one after another, then the directory.
/// Builder (see the module doc).
pub fn build(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for e in entries {
        cd.extend(central(e, out.len() as u32));
        out.extend(local_header(e));
        out.extend_from_slice(&e.data);
    }
    let off = out.len() as u32;
    out.extend_from_slice(&cd);
    out.extend(eocd(entries.len() as u16, cd.len() as u32, off));
    out
}

/// A few named hostile archives and the entry each must be refused for:
/// for end-to-end tests that need a sample, not the full corpus.
pub fn hostile_samples() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let mut bad_crc = file(b"data.txt", b"hello world");
    bad_crc.crc ^= 1;
    let b = file(b"b", &[b'x'; 100]);
    let inner = [local_header(&b), b.data.clone()].concat();
    let a = file(b"a", &inner);
    let mut overlap = local_header(&a);
    let b_off = overlap.len() as u32;
    overlap.extend_from_slice(&inner);
    let cd = [central(&a, 0), central(&b, b_off)].concat();
    let off = overlap.len() as u32;
    overlap.extend_from_slice(&cd);
    overlap.extend(eocd(2, cd.len() as u32, off));
    vec![
        (
            "zip-slip",
            build(&[file(b"ok.txt", b"1"), file(b"../evil.txt", b"x")]),
            "../evil.txt",
        ),
        ("absolute", build(&[file(b"/etc/evil", b"x")]), "/etc/evil"),
        (
            "write-through-symlink",
            build(&[link(b"l", b".."), file(b"l/evil.txt", b"x")]),
            "l/evil.txt",
        ),
        (
            "file-then-symlink-parent",
            build(&[file(b"d/evil.txt", b"x"), link(b"d", b"/tmp")]),
            "d/evil.txt",
        ),
        (
            "duplicate",
            build(&[file(b"a.txt", b"1"), file(b"a.txt", b"2")]),
            "a.txt",
        ),
        ("overlap", overlap, "b"),
        (
            "declared-size-lie",
            build(&[Raw {
                usize: 2 << 20,
                ..deflated(b"bomb", &[0u8; 1000])
            }]),
            "bomb",
        ),
        ("wrong-crc", build(&[bad_crc]), "data.txt"),
    ]
}
