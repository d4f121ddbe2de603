//! A fault-injecting file layer for tests.
//!
//! Every durable-write primitive of snap (the writes, `fsync`s, renames,
//! directory `fsync`s and unlinks behind [`crate::fsutil`], pack reads, the
//! restore's file writes and renames, and the reads and writes of an export
//! or import: its temporary ZIP ([`Writer`]), its output file and the
//! archive it reads) calls one of the hooks here before or after the real
//! system call. Without the cargo feature
//! `fault-injection` the hooks are empty inline functions and compile to the
//! plain calls.
//!
//! With the feature, each hook counts its operation, and when armed fails
//! the N-th call of one operation (1-based, counted per process) with
//! `ENOSPC`, `EIO` or a short write, once or persistently (that call and
//! every later one). Arming:
//!
//! * from the environment: `SNAP_FAULT=op:n:kind:mode`, e.g.
//!   `SNAP_FAULT=fsync:3:eio:once`; `op` is `write`, `fsync`, `rename`,
//!   `dirsync`, `unlink`, `read` or `sql` (a write to the SQLite index:
//!   the statement or transaction commit fails as SQLite's `SQLITE_IOERR`
//!   would, through the same error path); `kind` is `enospc`, `eio` or `short`;
//!   `mode` is `once` or `persistent`. Read once, at the first hook call.
//! * in process: [`arm`], [`disarm`].
//!
//! `SNAP_FAULT_COUNTS=FILE` makes [`write_counts`] (called by the `snap`
//! binary before it exits) write the per-operation counts and the number of
//! faults injected to `FILE` as `op=count` lines, so a test can count the
//! calls of a clean run and then inject at every k = 1..N.
//!
//! A "short write" writes (or keeps) only the first half of the data and
//! then fails with `ErrorKind::WriteZero`, as `write_all` does when the disk
//! stops accepting bytes; on a read it fails with `UnexpectedEof`.

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

/// An operation the layer can count and fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// Writing file content.
    Write,
    /// `fsync` of a file (or `syncfs` of a tree).
    Fsync,
    /// A rename (including `renameat2` exchange and `tempfile::persist`).
    Rename,
    /// `fsync` of a directory.
    DirSync,
    /// Removing a file.
    Unlink,
    /// Reading pack data, or an archive being imported.
    Read,
    /// A write to the SQLite index (a statement or a transaction's commit).
    Sql,
}

/// How many operations there are.
pub const OPS: usize = 7;

impl Op {
    /// Every operation, in a fixed order.
    pub const ALL: [Op; OPS] = [
        Op::Write,
        Op::Fsync,
        Op::Rename,
        Op::DirSync,
        Op::Unlink,
        Op::Read,
        Op::Sql,
    ];

    /// The name used in `SNAP_FAULT`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Write => "write",
            Op::Fsync => "fsync",
            Op::Rename => "rename",
            Op::DirSync => "dirsync",
            Op::Unlink => "unlink",
            Op::Read => "read",
            Op::Sql => "sql",
        }
    }

    /// Parses a name from `SNAP_FAULT`.
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|o| o.name() == s)
    }

    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    fn index(self) -> usize {
        self as usize
    }
}

/// How an injected fault fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `ENOSPC`: no space left on device.
    Enospc,
    /// `EIO`: input/output error.
    Eio,
    /// Half the bytes, then `WriteZero` (`UnexpectedEof` for reads).
    Short,
}

/// Whether a fault fires once or on every call from the N-th on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only the N-th call fails.
    Once,
    /// The N-th call and every later one fail.
    Persistent,
}

/// What to fail: the `n`-th call (1-based) of `op`, how, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The operation.
    pub op: Op,
    /// Which call (1-based).
    pub n: u64,
    /// The error.
    pub kind: Kind,
    /// Once or persistent.
    pub mode: Mode,
}

impl Spec {
    /// Parses `op:n:kind:mode`.
    pub fn parse(s: &str) -> Option<Spec> {
        let mut it = s.trim().split(':');
        let op = Op::parse(it.next()?)?;
        let n = it.next()?.parse().ok().filter(|n| *n >= 1)?;
        let kind = match it.next()? {
            "enospc" => Kind::Enospc,
            "eio" => Kind::Eio,
            "short" => Kind::Short,
            _ => return None,
        };
        let mode = match it.next()? {
            "once" => Mode::Once,
            "persistent" => Mode::Persistent,
            _ => return None,
        };
        it.next().is_none().then_some(Spec { op, n, kind, mode })
    }

    /// The `op:n:kind:mode` form.
    pub fn to_env(&self) -> String {
        let kind = match self.kind {
            Kind::Enospc => "enospc",
            Kind::Eio => "eio",
            Kind::Short => "short",
        };
        let mode = match self.mode {
            Mode::Once => "once",
            Mode::Persistent => "persistent",
        };
        format!("{}:{}:{kind}:{mode}", self.op.name(), self.n)
    }
}

#[cfg(feature = "fault-injection")]
mod imp {
    use super::{Kind, Mode, Op, Spec, OPS};
    use std::io;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, Once};

    pub static COUNTS: [AtomicU64; OPS] = [const { AtomicU64::new(0) }; OPS];
    pub static INJECTED: AtomicU64 = AtomicU64::new(0);
    pub static INJECTED_CLEANUP: AtomicU64 = AtomicU64::new(0);
    thread_local! {
        pub static IN_CLEANUP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    pub static ARMED: Mutex<Option<Spec>> = Mutex::new(None);
    static FROM_ENV: Once = Once::new();

    fn error(kind: Kind, op: Op) -> io::Error {
        match kind {
            Kind::Enospc => io::Error::from_raw_os_error(libc_enospc()),
            Kind::Eio => io::Error::from_raw_os_error(libc_eio()),
            Kind::Short if op == Op::Read => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "injected short read (fault injection)",
            ),
            Kind::Short => io::Error::new(
                io::ErrorKind::WriteZero,
                "injected short write (fault injection)",
            ),
        }
    }

    const fn libc_enospc() -> i32 {
        28
    }

    const fn libc_eio() -> i32 {
        5
    }

    /// Counts one call of `op`; returns the fault kind when it must fail.
    pub fn hit(op: Op) -> Option<Kind> {
        FROM_ENV.call_once(|| {
            if let Some(spec) = std::env::var("SNAP_FAULT")
                .ok()
                .and_then(|s| Spec::parse(&s))
            {
                *ARMED.lock().unwrap_or_else(|p| p.into_inner()) = Some(spec);
            }
        });
        let n = COUNTS[op.index()].fetch_add(1, Ordering::SeqCst) + 1;
        let armed = *ARMED.lock().unwrap_or_else(|p| p.into_inner());
        let spec = armed.filter(|s| s.op == op)?;
        let fire = match spec.mode {
            Mode::Once => n == spec.n,
            Mode::Persistent => n >= spec.n,
        };
        fire.then(|| {
            INJECTED.fetch_add(1, Ordering::SeqCst);
            if IN_CLEANUP.with(|c| c.get()) {
                INJECTED_CLEANUP.fetch_add(1, Ordering::SeqCst);
            }
            spec.kind
        })
    }

    pub fn check(op: Op) -> io::Result<()> {
        match hit(op) {
            Some(kind) => Err(error(kind, op)),
            None => Ok(()),
        }
    }

    pub fn err(kind: Kind, op: Op) -> io::Error {
        error(kind, op)
    }
}

/// Counts one call of `op` and fails it when armed. Call it just before the
/// real operation.
///
/// # Errors
/// The injected error.
#[inline(always)]
pub fn check(op: Op) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    return imp::check(op);
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = op;
        Ok(())
    }
}

/// `out.write_all(buf)`, counted as one write; a short-write fault writes
/// the first half of `buf` and then fails.
///
/// # Errors
/// The real error or the injected one.
#[inline(always)]
pub fn write_all(out: &mut impl Write, buf: &[u8]) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if let Some(kind) = imp::hit(Op::Write) {
        if kind == Kind::Short {
            out.write_all(&buf[..buf.len() / 2])?;
        }
        return Err(imp::err(kind, Op::Write));
    }
    out.write_all(buf)
}

/// A writer whose every `write` call is counted as one write (and fails
/// when armed, a short-write fault writing the first half of the buffer
/// first), for streams written outside [`crate::fsutil::atomic_write`]: an
/// export's temporary ZIP and output file, a vault's decrypted ZIP. `Seek`
/// and `flush` pass through. Without the feature it is the inner writer.
#[derive(Debug)]
pub struct Writer<W>(pub W);

impl<W: Write> Write for Writer<W> {
    #[inline(always)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "fault-injection")]
        if let Some(kind) = imp::hit(Op::Write) {
            if kind == Kind::Short {
                self.0.write_all(&buf[..buf.len() / 2])?;
            }
            return Err(imp::err(kind, Op::Write));
        }
        self.0.write(buf)
    }

    #[inline(always)]
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Seek> Seek for Writer<W> {
    #[inline(always)]
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek(pos)
    }
}

/// Counts one write of a whole file already filled by a callback; a
/// short-write fault cuts the file to half its length and then fails.
///
/// # Errors
/// The injected error.
#[inline(always)]
pub fn after_fill(file: &File) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if let Some(kind) = imp::hit(Op::Write) {
        if kind == Kind::Short {
            let len = file.metadata()?.len();
            file.set_len(len / 2)?;
        }
        return Err(imp::err(kind, Op::Write));
    }
    let _ = file;
    Ok(())
}

/// `file.sync_all()`, counted as one fsync.
///
/// # Errors
/// The real error or the injected one.
#[inline(always)]
pub fn sync_all(file: &File) -> io::Result<()> {
    check(Op::Fsync)?;
    file.sync_all()
}

/// `std::fs::rename`, counted as one rename.
///
/// # Errors
/// The real error or the injected one.
#[inline(always)]
pub fn rename(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    check(Op::Rename)?;
    std::fs::rename(from, to)
}

/// Runs `f` as post-commit cleanup: faults injected inside it are also
/// counted as `injected_cleanup`, because an operation that has passed its
/// commit point rightly reports success when only its cleanup fails (the
/// leftover is removed by the next open). Plain call without the feature.
#[inline(always)]
pub fn in_cleanup<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "fault-injection")]
    {
        imp::IN_CLEANUP.with(|c| c.set(true));
        let out = f();
        imp::IN_CLEANUP.with(|c| c.set(false));
        out
    }
    #[cfg(not(feature = "fault-injection"))]
    f()
}

/// Arms the layer in this process (replacing any earlier spec).
/// Does nothing without the `fault-injection` feature.
pub fn arm(spec: Spec) {
    #[cfg(feature = "fault-injection")]
    {
        *imp::ARMED.lock().unwrap_or_else(|p| p.into_inner()) = Some(spec);
    }
    #[cfg(not(feature = "fault-injection"))]
    let _ = spec;
}

/// Disarms the layer and resets the counts.
pub fn disarm() {
    #[cfg(feature = "fault-injection")]
    {
        use std::sync::atomic::Ordering;
        *imp::ARMED.lock().unwrap_or_else(|p| p.into_inner()) = None;
        for c in &imp::COUNTS {
            c.store(0, Ordering::SeqCst);
        }
        imp::INJECTED.store(0, Ordering::SeqCst);
        imp::INJECTED_CLEANUP.store(0, Ordering::SeqCst);
    }
}

/// The calls counted so far, per operation (in [`Op::ALL`] order), and the
/// number of faults injected. All zero without the feature.
pub fn counts() -> ([u64; OPS], u64) {
    #[cfg(feature = "fault-injection")]
    {
        use std::sync::atomic::Ordering;
        let mut out = [0; OPS];
        for (o, c) in out.iter_mut().zip(&imp::COUNTS) {
            *o = c.load(Ordering::SeqCst);
        }
        (out, imp::INJECTED.load(Ordering::SeqCst))
    }
    #[cfg(not(feature = "fault-injection"))]
    ([0; OPS], 0)
}

/// Writes [`counts`] to the file named by `SNAP_FAULT_COUNTS`, if set
/// (`op=count` lines and `injected=n`). Errors are ignored: this is test
/// instrumentation. Does nothing without the feature.
pub fn write_counts() {
    #[cfg(feature = "fault-injection")]
    if let Some(path) = std::env::var_os("SNAP_FAULT_COUNTS") {
        let (c, injected) = counts();
        let mut s = String::new();
        for (op, n) in Op::ALL.iter().zip(c) {
            s.push_str(&format!("{}={n}\n", op.name()));
        }
        s.push_str(&format!("injected={injected}\n"));
        let cleanup = imp::INJECTED_CLEANUP.load(std::sync::atomic::Ordering::SeqCst);
        s.push_str(&format!("injected_cleanup={cleanup}\n"));
        let _ = std::fs::write(path, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trip() {
        let s = Spec::parse("fsync:3:eio:persistent").unwrap();
        assert_eq!(s.op, Op::Fsync);
        assert_eq!(s.n, 3);
        assert_eq!(Spec::parse(&s.to_env()), Some(s));
        assert!(Spec::parse("fsync:0:eio:once").is_none());
        assert!(Spec::parse("fsync:1:eio").is_none());
        assert!(Spec::parse("nope:1:eio:once").is_none());
    }
}
