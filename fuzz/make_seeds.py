#!/usr/bin/env python3
"""Writes the ZIP and vault seed corpora (fuzz/corpus/zip_import, vault_header):
a well-formed snap export, and hostile variants (zip-slip, absolute path,
duplicate names, a bomb-like ratio, a symlink out of the tree)."""
import hashlib, io, json, os, shutil, zipfile

here = os.path.dirname(os.path.abspath(__file__))
out = os.path.join(here, "corpus", "zip_import")
os.makedirs(out, exist_ok=True)

def blake3_or_sha(b):
    try:
        import blake3  # type: ignore
        return blake3.blake3(b).hexdigest()
    except ImportError:
        return hashlib.sha256(b).hexdigest()

def export(files, extra=None, name="ok.zip"):
    buf = io.BytesIO()
    entries = [{"path": p, "kind": "file", "size": len(d), "mode": 0o644,
                "mtime_ns": 0, "blake3": blake3_or_sha(d)} for p, d in files]
    manifest = {"format_version": 1, "tool": "snap", "version": "0.1.0", "platform": "linux",
                "snapshot": {"id": "00" * 32, "name": "backup-2026-01-01T00-00-00-000Z",
                             "profile": "p", "time": "2026-01-01T00:00:00Z"},
                "summary": {"files": len(files), "dirs": 0, "bytes": sum(len(d) for _, d in files)},
                "excluded": [], "redacted": [], "entries": entries}
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        for p, d in files:
            z.writestr("files/" + p, d)
        for p, d in (extra or []):
            z.writestr(p, d)
    with open(os.path.join(out, name), "wb") as f:
        f.write(buf.getvalue())

export([("settings.json", b'{"a": 1}\n'), ("state/x.dat", b"x" * 1000)])
export([("a", b"1")], extra=[("files/../../evil", b"boom")], name="slip.zip")
export([("a", b"1")], extra=[("/etc/passwd", b"root")], name="absolute.zip")
export([("a", b"1"), ("a", b"2")], name="duplicate.zip")
export([("big", b"\0" * 2_000_000)], name="ratio.zip")
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    info = zipfile.ZipInfo("files/link")
    info.external_attr = (0o120777 << 16)
    z.writestr(info, "../../outside")
open(os.path.join(out, "symlink.zip"), "wb").write(buf.getvalue())
open(os.path.join(out, "empty"), "wb").write(b"")

vout = os.path.join(here, "corpus", "vault_header")
os.makedirs(vout, exist_ok=True)
fixtures = os.path.join(here, "..", "tests", "fixtures", "vault")
for n in ("v1_ref.stvault", "v2_ref.stvault"):
    with open(os.path.join(fixtures, n), "rb") as f:
        open(os.path.join(vout, n), "wb").write(f.read(4096))
open(os.path.join(vout, "short"), "wb").write(b"STVAULT\x01")
