//! ZIPs written the way other tools write them, through `snap import` and
//! `snap restore FILE`: data descriptors (general-purpose bit 3, from
//! Python's `zipfile` writing to a pipe and from hand-written bytes),
//! MS-DOS attributes only, explicit directory entries, zero and 1980
//! timestamps, another application's `manifest.json` at the root; and a
//! setuid entry, whose bit is dropped with a warning.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use super::{check, python, stdout_json, Env};

/// Python's `zipfile` as a second, independent writer. Writing to a pipe
/// (not seekable) makes it stream every entry with a data descriptor.
const WRITER_PY: &str = r##"
import sys, zipfile
def entries(z):
    def add(name, data, date=(2026, 2, 4, 15, 30, 0), system=0, attr=0):
        i = zipfile.ZipInfo(name, date)
        i.create_system = system
        i.external_attr = attr
        i.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(i, data)
    add("manifest.json", '{"format_version": 1, "app_version": "1.2.3", "tool": "mahpastes"}')
    add("images/", b"", attr=0x10)
    add("images/thumbs/", b"", attr=0x10)
    add("images/a.png", bytes(range(256)) * 40, date=(1980, 1, 1, 0, 0, 0))
    add("zero-time.txt", "no time\n", date=(1980, 0, 0, 0, 0, 0))
    add("database.sql", "CREATE TABLE clips(id);\n" * 500, attr=0x20)
    add("tool", "#!/bin/sh\n", system=3, attr=(0o104755 << 16))
if sys.argv[1] == "-":
    with zipfile.ZipFile(sys.stdout.buffer, "w") as z:
        entries(z)
else:
    with zipfile.ZipFile(sys.argv[1], "w") as z:
        entries(z)
"##;

fn python_zip(env: &Env, dest: &str, streamed: bool) {
    let path = env.path(dest);
    let arg = if streamed {
        std::ffi::OsStr::new("-")
    } else {
        path.as_os_str()
    };
    let stdout = python(WRITER_PY, &[arg]);
    if streamed {
        std::fs::write(&path, stdout).unwrap();
    }
}

/// A one-entry ZIP streamed as JSZip (`streamFiles: true`) and Go's
/// `archive/zip` write it: bit 3 set, zero CRC and sizes in the local
/// header, the real ones in a signed data descriptor after the data.
fn streamed_by_hand(name: &[u8], plain: &[u8]) -> Vec<u8> {
    let enc = flate2_deflate(plain);
    let crc = crc32(plain);
    let mut out = Vec::new();
    out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    out.extend_from_slice(&20u16.to_le_bytes());
    out.extend_from_slice(&(8u16 | 0x0800).to_le_bytes());
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&[0u8; 12]);
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&enc);
    out.extend_from_slice(&0x0807_4b50u32.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&(enc.len() as u32).to_le_bytes());
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    let cd_off = out.len() as u32;
    let mut cd = Vec::new();
    cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    cd.extend_from_slice(&0x0014u16.to_le_bytes());
    cd.extend_from_slice(&20u16.to_le_bytes());
    cd.extend_from_slice(&(8u16 | 0x0800).to_le_bytes());
    cd.extend_from_slice(&8u16.to_le_bytes());
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(&crc.to_le_bytes());
    cd.extend_from_slice(&(enc.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
    cd.extend_from_slice(&[0u8; 8]);
    cd.extend_from_slice(&0x20u32.to_le_bytes());
    cd.extend_from_slice(&0u32.to_le_bytes());
    cd.extend_from_slice(name);
    out.extend_from_slice(&cd);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Raw deflate by Python's `zlib` (an independent encoder).
fn flate2_deflate(plain: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import sys,zlib;c=zlib.compressobj(6,zlib.DEFLATED,-15);sys.stdout.buffer.write(c.compress(sys.stdin.buffer.read())+c.flush())",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is not installed");
    child.stdin.take().unwrap().write_all(plain).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn views_foreign_writers_import_and_restore() {
    let env = Env::new();
    python_zip(&env, "seekable.zip", false);
    python_zip(&env, "streamed.zip", true);
    let streamed = std::fs::read(env.path("streamed.zip")).unwrap();
    assert_ne!(
        u16::from_le_bytes([streamed[6], streamed[7]]) & 8,
        0,
        "bit 3 set"
    );
    for zip in ["seekable.zip", "streamed.zip"] {
        let out = env.expect(&["--json", "import", zip, "--profile", "app"], 0);
        let j = stdout_json(&out);
        assert_eq!(j["manifest"]["summary"]["files"], 5, "{zip}");
        assert_eq!(j["manifest"]["summary"]["dirs"], 2, "{zip}");
        let warnings = j["warnings"].to_string();
        assert!(
            warnings.contains("tool: dropped the setuid"),
            "{zip}: {warnings}"
        );
        let target = format!("out-{zip}");
        let out = env.expect(&["--json", "restore", zip, "--target", &target], 0);
        assert!(stdout_json(&out)["warnings"].to_string().contains("4755"));
        let t = env.path(&target);
        assert_eq!(
            std::fs::read(t.join("images/a.png")).unwrap(),
            (0..=255u8).collect::<Vec<_>>().repeat(40)
        );
        assert_eq!(
            std::fs::read_to_string(t.join("zero-time.txt")).unwrap(),
            "no time\n"
        );
        assert!(std::fs::read_to_string(t.join("manifest.json"))
            .unwrap()
            .contains("mahpastes"));
        assert!(t.join("images/thumbs").is_dir());
        let mode = std::fs::metadata(t.join("tool"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755, "{zip}: setuid dropped");
        let mode = std::fs::metadata(t.join("database.sql"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644, "{zip}: MS-DOS attributes give 0644");
        let mtime = std::fs::metadata(t.join("images/a.png")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::mtime(&mtime),
            315_532_800,
            "1980"
        );
    }
    // Hand-written streamed entry (bit 3, signed descriptor).
    let plain = b"streamed like JSZip and Go\n".repeat(50);
    std::fs::write(
        env.path("jszip-like.zip"),
        streamed_by_hand(b"notes.txt", &plain),
    )
    .unwrap();
    env.expect(&["import", "jszip-like.zip", "--profile", "js"], 0);
    env.expect(&["restore", "jszip-like.zip", "--target", "js"], 0);
    assert_eq!(std::fs::read(env.path("js/notes.txt")).unwrap(), plain);
    // Its sizes are still checked: a descriptor-less lie is refused.
    let mut lie = streamed_by_hand(b"notes.txt", &plain);
    let cd = lie.len() - 22 - 46 - 9;
    lie[cd + 24..cd + 28].copy_from_slice(&(plain.len() as u32 + 1).to_le_bytes());
    std::fs::write(env.path("lie.zip"), &lie).unwrap();
    let args = ["restore", "lie.zip", "--target", "lie"];
    let out = env.run(&args);
    check(&out, 13, &args, env.dir.path());
    assert!(!env.path("lie").exists());
}
