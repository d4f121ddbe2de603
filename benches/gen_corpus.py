#!/usr/bin/env python3
"""Deterministic generator of a profile-like corpus for snap benchmarks.

Usage:
    python3 benches/gen_corpus.py DIR [--seed N] [--scale F]
        Create DIR (must be absent or empty) holding a profile-like tree,
        like a browser or editor profile: at scale 1.0 about 600 files and
        ~226 MB:
          - ~300 JSON settings/state files, a few KB to a few MB, nested
            (prefs.json, settings/, extensions/<id>/, storage/default/<site>/)
          - places.sqlite: ~60 MB SQLite database (page size 4096,
            rollback-journal mode DELETE) with text rows, blob rows, indexes
          - ~290 "images" (images/<aa>/...): incompressible random bytes,
            200 KB - 1.2 MB each, with a JPEG or PNG header
          - a few small text/log files (logs/, *.txt)
        --scale F multiplies sizes and counts (e.g. 0.09 gives ~20 MB, handy in
        tests). Same seed and scale give the same file contents, names and
        mtimes (the SQLite file is byte-identical for the same SQLite library).

    python3 benches/gen_corpus.py DIR --mutate [--seed N]
        Apply the "small change" of issue 3 to an existing corpus,
        deterministically (derived from the seed and the database's current
        row count, so repeated calls make different but reproducible changes):
          - edit a few JSON settings (prefs.json and two files in settings/),
          - insert 200 rows into and update 50 rows of places.sqlite
            (through SQLite, in one transaction, journal mode DELETE),
          - add 2 images, delete 1 image.
        Prints a one-line summary of what changed.

Only the Python standard library is used.
"""

import argparse
import json
import math
import os
import random
import sqlite3
import string
import sys

BASE_MTIME = 1_700_000_000  # fixed mtimes for a reproducible tree

WORDS = (
    "alpha beta gamma delta theme font size color dark light window tab "
    "panel sidebar toolbar sync account enabled disabled history cache "
    "session cookie storage locale zoom scale editor cursor blink line "
    "wrap minimap ruler format save auto delay interval retention backup "
    "profile search engine default provider url title icon host port proxy "
    "network timeout retry update channel release beta nightly telemetry "
    "privacy tracking block allow notify sound volume language spelling"
).split()

JPEG_HEADER = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")
PNG_HEADER = bytes.fromhex("89504e470d0a1a0a0000000d49484452")


# ----------------------------------------------------------------- helpers
def word(rng):
    return rng.choice(WORDS)


def ident(rng, n=12):
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def json_value(rng, depth):
    """A realistic nested JSON value: settings-like keys, mixed leaves."""
    r = rng.random()
    if depth <= 0 or r < 0.55:
        k = rng.random()
        if k < 0.25:
            return rng.random() < 0.5
        if k < 0.5:
            return rng.randint(0, 100000)
        if k < 0.6:
            return round(rng.uniform(0, 100), 3)
        if k < 0.75:
            return "https://%s.%s.example/%s?%s=%d" % (
                word(rng), word(rng), ident(rng, 8), word(rng), rng.randint(0, 999))
        return " ".join(word(rng) for _ in range(rng.randint(1, 6)))
    if r < 0.8:
        return {"%s.%s" % (word(rng), word(rng)) if rng.random() < 0.5 else word(rng) + str(i):
                json_value(rng, depth - 1) for i in range(rng.randint(2, 8))}
    return [json_value(rng, depth - 1) for _ in range(rng.randint(1, 6))]


def json_doc(rng, target_size):
    """A JSON object of roughly target_size bytes when dumped with indent=2."""
    doc = {"version": rng.randint(1, 40), "id": ident(rng, 16)}
    size = 40
    i = 0
    while size < target_size:
        key = "%s.%s.%d" % (word(rng), word(rng), i)
        val = json_value(rng, 4)
        doc[key] = val
        size += len(json.dumps(val, indent=2)) + len(key) + 8
        i += 1
    return doc


def write_file(path, data, mtime):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    mode = "w" if isinstance(data, str) else "wb"
    with open(path, mode) as f:
        f.write(data)
    os.utime(path, (mtime, mtime))


def write_json(path, doc, mtime=None):
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if mtime is None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    else:
        write_file(path, text, mtime)


def image_bytes(rng, size):
    header = JPEG_HEADER if rng.random() < 0.7 else PNG_HEADER
    return header + rng.randbytes(size - len(header))


def image_size(rng, scale):
    # log-uniform between 200 KB and 1.2 MB (mean ~560 KB); not scaled so that
    # a small corpus keeps realistic file sizes (only the count shrinks).
    del scale
    return int(math.exp(rng.uniform(math.log(200_000), math.log(1_200_000))))


# --------------------------------------------------------------- database
SCHEMA = """
CREATE TABLE places (
  id INTEGER PRIMARY KEY, url TEXT NOT NULL, title TEXT, rev_host TEXT,
  visit_count INTEGER, last_visit INTEGER, frecency INTEGER, guid TEXT);
CREATE UNIQUE INDEX places_url ON places(url);
CREATE INDEX places_frecency ON places(frecency);
CREATE INDEX places_last_visit ON places(last_visit);
CREATE TABLE visits (
  id INTEGER PRIMARY KEY, place_id INTEGER, visit_date INTEGER, kind INTEGER);
CREATE INDEX visits_place ON visits(place_id, visit_date);
CREATE TABLE icons (
  id INTEGER PRIMARY KEY, url TEXT, width INTEGER, expire INTEGER, data BLOB);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
"""


def place_row(rng, pid, t):
    host = "%s.%s.example" % (word(rng), ident(rng, 5))
    url = "https://%s/%s/%s-%d" % (host, word(rng), ident(rng, 10), pid)
    title = " ".join(word(rng) for _ in range(rng.randint(2, 9))).capitalize()
    return (pid, url, title, host[::-1] + ".", rng.randint(1, 300), t,
            rng.randint(0, 20000), ident(rng, 12))


def make_database(path, rng, target_bytes):
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size = 4096")
    con.execute("PRAGMA journal_mode = DELETE")
    con.executescript(SCHEMA)
    pid = vid = iid = 0
    t = 1_600_000_000_000_000
    while True:
        with con:
            places = []
            for _ in range(400):
                pid += 1
                t += rng.randint(1_000_000, 600_000_000)
                places.append(place_row(rng, pid, t))
            con.executemany("INSERT INTO places VALUES (?,?,?,?,?,?,?,?)", places)
            visits = []
            for _ in range(1200):
                vid += 1
                visits.append((vid, rng.randint(1, pid), t - rng.randint(0, 10**12), rng.randint(1, 9)))
            con.executemany("INSERT INTO visits VALUES (?,?,?,?)", visits)
            icons = []
            for _ in range(25):
                iid += 1
                # favicons are PNGs: mostly incompressible, 1-8 KB
                icons.append((iid, "https://%s.example/favicon.ico" % ident(rng, 8),
                              rng.choice((16, 32, 64)), t, PNG_HEADER + rng.randbytes(rng.randint(1000, 8000))))
            con.executemany("INSERT INTO icons VALUES (?,?,?,?,?)", icons)
            kv = [("%s.%s.%s" % (word(rng), ident(rng, 10), pid),
                   json.dumps(json_value(rng, 3))) for _ in range(60)]
            con.executemany("INSERT OR REPLACE INTO kv VALUES (?,?)", kv)
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        if pages * 4096 >= target_bytes:
            break
    con.close()
    return pid


def mutate_database(path, rng):
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = DELETE")
    n, maxid, maxt = con.execute("SELECT count(*), max(id), max(last_visit) FROM places").fetchone()
    with con:
        rows = []
        t = maxt
        for i in range(200):
            t += rng.randint(1_000_000, 600_000_000)
            rows.append(place_row(rng, maxid + 1 + i, t))
        con.executemany("INSERT INTO places VALUES (?,?,?,?,?,?,?,?)", rows)
        ids = rng.sample(range(1, maxid + 1), 50)
        for pid in ids:
            t += rng.randint(1_000_000, 600_000_000)
            con.execute("UPDATE places SET visit_count = visit_count + 1, last_visit = ?, "
                        "frecency = ? WHERE id = ?", (t, rng.randint(0, 20000), pid))
    con.close()
    return n


# ------------------------------------------------------------------ corpus
def generate(root, seed, scale):
    if os.path.exists(root) and os.listdir(root):
        sys.exit("gen_corpus: %s exists and is not empty" % root)
    os.makedirs(root, exist_ok=True)
    rng = random.Random(seed)
    mt = BASE_MTIME
    nfiles = 0

    def s(n, lo=1):
        return max(lo, int(round(n * scale)))

    # Top-level settings and state.
    write_json(os.path.join(root, "prefs.json"), json_doc(rng, 120_000), mt); nfiles += 1
    write_json(os.path.join(root, "sessionstore.json"), json_doc(rng, s(1_500_000, 50_000)), mt); nfiles += 1
    write_json(os.path.join(root, "extensions.json"), json_doc(rng, s(800_000, 20_000)), mt); nfiles += 1
    for i in range(s(12, 3)):
        write_json(os.path.join(root, "settings", "%s-%d.json" % (word(rng), i)),
                   json_doc(rng, rng.randint(2_000, 20_000)), mt); nfiles += 1
    # Extensions: each a folder with a manifest, a settings file, messages.
    for e in range(s(40, 3)):
        ext = os.path.join(root, "extensions", "{%s}" % ident(rng, 20))
        write_json(os.path.join(ext, "manifest.json"), json_doc(rng, rng.randint(1_500, 6_000)), mt)
        write_json(os.path.join(ext, "settings.json"), json_doc(rng, rng.randint(2_000, 12_000)), mt)
        write_json(os.path.join(ext, "_locales", "en", "messages.json"),
                   json_doc(rng, rng.randint(3_000, 30_000)), mt)
        nfiles += 3
    # Per-site storage: mostly small JSON, a few large.
    for i in range(s(165, 8)):
        site = "https+++%s.%s.example" % (word(rng), ident(rng, 6))
        size = rng.randint(1_000, 15_000) if rng.random() < 0.95 else rng.randint(100_000, 400_000)
        write_json(os.path.join(root, "storage", "default", site, "ls", "data.json"),
                   json_doc(rng, int(size)), mt); nfiles += 1
    # Small text/log files.
    for i in range(s(6, 2)):
        lines = ["%d [%s] %s: %s" % (BASE_MTIME - 86400 + j * 7, rng.choice(("INFO", "WARN", "DEBUG")),
                                     word(rng), " ".join(word(rng) for _ in range(rng.randint(3, 12))))
                 for j in range(rng.randint(50, 600))]
        write_file(os.path.join(root, "logs", "app-%d.log" % i), "\n".join(lines) + "\n", mt); nfiles += 1
    write_file(os.path.join(root, "README.txt"), "Profile directory. Do not edit while running.\n", mt)
    write_file(os.path.join(root, "times.txt"), "created=%d\n" % BASE_MTIME, mt)
    nfiles += 2
    # Images.
    for i in range(s(290, 4)):
        data = image_bytes(rng, image_size(rng, scale))
        ext = "jpg" if data.startswith(JPEG_HEADER) else "png"
        write_file(os.path.join(root, "images", "%02x" % (i % 32), "img-%04d.%s" % (i, ext)), data, mt)
        nfiles += 1
    # Database last (its own rng stream so image changes do not shift it).
    db = os.path.join(root, "places.sqlite")
    make_database(db, random.Random("%s-db" % seed), s(60_000_000, 1_000_000))
    os.utime(db, (mt, mt))
    nfiles += 1
    for d, _, _ in os.walk(root, topdown=False):
        os.utime(d, (mt, mt))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs)
    print("gen_corpus: %s: %d files, %.1f MB (seed %s, scale %s)" % (root, nfiles, total / 1e6, seed, scale))


def mutate(root, seed):
    db = os.path.join(root, "places.sqlite")
    if not os.path.exists(db):
        sys.exit("gen_corpus: %s has no places.sqlite: not a corpus" % root)
    con = sqlite3.connect(db)
    rows = con.execute("SELECT count(*) FROM places").fetchone()[0]
    con.close()
    rng = random.Random("%s-mutate-%d" % (seed, rows))
    # 1. Edit a few JSON settings (rewritten whole, as applications do).
    settings = sorted(os.listdir(os.path.join(root, "settings")))
    edited = ["prefs.json"] + ["settings/" + f for f in rng.sample(settings, min(2, len(settings)))]
    for rel in edited:
        p = os.path.join(root, rel)
        with open(p) as f:
            doc = json.load(f)
        keys = list(doc.keys())
        for k in rng.sample(keys, min(3, len(keys))):
            doc[k] = json_value(rng, 1)
        doc["%s.%s.changed" % (word(rng), word(rng))] = rng.randint(0, 10**6)
        write_json(p, doc)
    # 2. Database: insert 200 rows, update 50.
    mutate_database(db, rng)
    # 3. Add 2 images, delete 1.
    imgs = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(root, "images")) for f in fs)
    gone = rng.choice(imgs)
    os.remove(gone)
    added = []
    for i in range(2):
        data = image_bytes(rng, image_size(rng, 1.0))
        ext = "jpg" if data.startswith(JPEG_HEADER) else "png"
        p = os.path.join(root, "images", "new", "img-%d-%d.%s" % (rows, i, ext))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        added.append((os.path.relpath(p, root), len(data)))
    print("gen_corpus: mutated %s: edited %s; places.sqlite +200 rows, 50 updated; added %s; deleted %s"
          % (root, ", ".join(edited), ", ".join("%s (%d B)" % a for a in added), os.path.relpath(gone, root)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--mutate", action="store_true", help="apply the small change to an existing corpus")
    a = ap.parse_args()
    if a.mutate:
        mutate(a.dir, a.seed)
    else:
        generate(a.dir, a.seed, a.scale)


if __name__ == "__main__":
    main()
