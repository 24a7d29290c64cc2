#!/usr/bin/python3
"""gen_golden.py - golden Kafka RecordBatch v2 files for tests/unit/test_batch.c.

WHAT IT MAKES
    tests/golden/recordbatch/, written by an implementation that is not ours:
    Debian's python3-kafka (kafka-python 2.0.2), its record batch builder
    kafka.record.default_records.DefaultRecordBatchBuilder.  Our C codec
    (storage/batch.c) is tested against these files, so they must never be
    produced or "fixed" with our own encoder.

      small-none.bin          1 batch, codec none, base offset 0, 4 records:
                              "hello"; key "k1" value "world" with headers
                              h=v and trace=abc; an empty value; key "tomb"
                              with a null value.  Timestamps T0, +1, +2, +5.
                              test_batch.c relies on exactly these records
                              (test_golden_small_headers, and the record
                              layout poked at in test_parse_header_rules).
      small-none-corrupt.bin  small-none.bin with one byte flipped inside the
                              CRC-32C covered range (in the last record's
                              key, so the header still parses): the CRC no
                              longer matches.
      idempotent-none.bin     1 batch, codec none, base offset 7, 3 log lines,
                              producer id 42, epoch 0, base sequence 0.
      lines50-<codec>.bin     1 batch of 50 log lines at base offset 100, for
                              codec none, gzip, snappy, lz4 and zstd.
      segment-00000000000000000000.log
                              5 batches back to back with absolute base
                              offsets 0, 1, 9, 24, 46 (1, 8, 15, 22, 29 log
                              lines; codecs none, lz4, zstd, none, lz4): what
                              a Kafka segment file holds.
      manifest.tsv            every batch (B lines) and record (R lines), in
                              the format test_batch.c parses; X lines name
                              the corrupt files.
      manifest.json           the same with every field, keys/values base64,
                              plus an "_about" entry (generator, library
                              versions, determinism per codec).

    Content is deterministic: record i of a file is a fixed log line with
    timestamp T0 + 3*i (T0 = 1763780000000 ms), no clock is read.

    kafka-python writes BaseOffset 0 and PartitionLeaderEpoch 0 (a producer
    does; the broker assigns them).  Like a broker we then write the absolute
    BaseOffset into the first 8 bytes; both fields lie before the CRC-covered
    range, so the builder's CRC stays valid.

DETERMINISM PER CODEC (kafka-python 2.0.2 on Debian 12)
    none    byte-identical on every run.
    gzip    NOT deterministic as kafka-python calls it: kafka.codec.gzip_encode
            uses gzip.GzipFile without mtime, so the gzip header carries the
            current time.  We pin the header mtime to 0 ("no time stamp",
            RFC 1952) by handing kafka.codec a GzipFile with mtime=0; the
            compressed data is still zlib's (level 9, as kafka-python asks).
            With that, byte-identical on every run with the same zlib.
    snappy  deterministic (python3-snappy, xerial framing as kafka-python
            writes it) for a given libsnappy.
    lz4     deterministic (python3-lz4 frame, independent blocks, content
            size stored) for a given liblz4.
    zstd    deterministic (python3-zstandard, level 3, one thread) for a
            given libzstd.
    Compressed bytes can change when a compression library changes version;
    the records inside cannot.  --check therefore demands byte identity
    everywhere, except that a compressed file may differ when the library
    versions differ from the ones recorded in manifest.json (then its
    decoded batches must be identical, and it says so).

HOW TO RUN (from the repository root; Debian packages only, no PyPI)
    apt-get install -y python3-kafka python3-snappy python3-lz4 python3-zstandard
    /usr/bin/python3 tests/golden/gen_golden.py            # rewrite tests/golden/recordbatch/
    /usr/bin/python3 tests/golden/gen_golden.py --out DIR  # write elsewhere
    /usr/bin/python3 tests/golden/gen_golden.py --check    # regenerate into a temp
        dir and compare with the committed files (CTest: golden.regenerate)

    Every run decodes what it wrote back with kafka-python's reader
    (DefaultRecordBatch, CRC checked) and compares it with the intended
    content and with the manifests it wrote; any difference is an error.
    Commit the regenerated files together with the change that needed them.
"""
import argparse
import base64
import filecmp
import functools
import gzip
import json
import os
import shutil
import struct
import sys
import tempfile
import types
import zlib

PACKAGES = "python3-kafka python3-snappy python3-lz4 python3-zstandard"


def die(msg):
    sys.stderr.write("gen_golden.py: %s\n" % msg)
    sys.exit(1)


try:
    import kafka
    import kafka.codec
    from kafka.record.default_records import (DefaultRecordBatch,
                                              DefaultRecordBatchBuilder)
except ImportError as e:
    die("kafka-python is missing (%s): install Debian's python3-kafka "
        "(kafka-python 2.0.2) and its codecs: apt-get install -y %s"
        % (e, PACKAGES))

_missing = [pkg for pkg, ok in (("python3-snappy", kafka.codec.has_snappy()),
                                ("python3-lz4", kafka.codec.has_lz4()),
                                ("python3-zstandard", kafka.codec.has_zstd()))
            if not ok]
if _missing:
    die("kafka-python lacks codec libraries: apt-get install -y %s"
        % " ".join(_missing))

import lz4            # noqa: E402  (present: has_lz4() said so)
import zstandard      # noqa: E402

# gzip: see DETERMINISM above.  Only kafka.codec sees this GzipFile.
GZIP_MTIME = 0
kafka.codec.gzip = types.SimpleNamespace(
    GzipFile=functools.partial(gzip.GzipFile, mtime=GZIP_MTIME))

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "recordbatch")

T0 = 1763780000000
NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODEC_NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4",
               ZSTD: "zstd"}
HEADER = struct.Struct(">qiibIhiqqqhii")     # RecordBatch v2, 61 bytes
CRC_START = 21                                # Attributes onwards
CORRUPT_OF = "small-none.bin"
CORRUPT_NAME = "small-none-corrupt.bin"
CORRUPT_FLIP = (-3, 0x40)   # byte len-3 ('b' of key "tomb") ^= 0x40


def library_versions():
    import importlib.metadata as md

    def pkg(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "?"
    return {
        "kafka-python": kafka.__version__,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "python-snappy": pkg("python-snappy"),
        "lz4": "%s (liblz4 %s)" % (pkg("lz4"), lz4.library_version_string()),
        "zstandard": "%s (libzstd %s)" % (
            zstandard.__version__, ".".join(map(str, zstandard.ZSTD_VERSION))),
    }


# Which library versions a codec's bytes depend on.
CODEC_LIBS = {GZIP: ("zlib", "python"), SNAPPY: ("python-snappy",),
              LZ4: ("lz4",), ZSTD: ("zstandard",)}

DETERMINISM = {
    "none": "byte-identical on every run",
    "gzip": "kafka-python writes the current time into the gzip header; "
            "gen_golden.py pins it to mtime=0, then byte-identical for a "
            "given zlib",
    "snappy": "byte-identical for a given libsnappy (xerial framing)",
    "lz4": "byte-identical for a given liblz4",
    "zstd": "byte-identical for a given libzstd",
}


# ============================== content =====================================

def line(i):
    """Log line i: fixed text, no clock."""
    return ("2025-11-22T03:33:%02d.%03dZ INFO orders-service order_id=%d "
            "user=u%04d amount=%d.%02d status=OK"
            % (i % 60, i, 100000 + i, i, (37 * i) % 1000, i % 100)).encode()


def rec(offset, timestamp, key, value, headers=()):
    return {"offset": offset, "timestamp": timestamp, "key": key,
            "value": value, "headers": list(headers)}


def lines_batch(base, first, n, codec, producer=(-1, -1, -1)):
    """n log lines first..first+n-1 at offsets base..base+n-1."""
    return {"base_offset": base, "codec": codec, "producer": producer,
            "records": [rec(base + k, T0 + 3 * (first + k), None,
                            line(first + k)) for k in range(n)]}


def spec():
    """file name -> list of intended batches, in file order."""
    files = {
        "small-none.bin": [{
            "base_offset": 0, "codec": NONE, "producer": (-1, -1, -1),
            "records": [
                rec(0, T0, None, b"hello"),
                rec(1, T0 + 1, b"k1", b"world", [("h", b"v"), ("trace", b"abc")]),
                rec(2, T0 + 2, None, b""),
                rec(3, T0 + 5, b"tomb", None),
            ]}],
        # producer id 42, epoch 0, base sequence 0
        "idempotent-none.bin": [lines_batch(7, 0, 3, NONE, (42, 0, 0))],
    }
    for codec in (NONE, GZIP, SNAPPY, LZ4, ZSTD):
        files["lines50-%s.bin" % CODEC_NAMES[codec]] = [
            lines_batch(100, 0, 50, codec)]
    seg, base = [], 0
    for n, codec in ((1, NONE), (8, LZ4), (15, ZSTD), (22, NONE), (29, LZ4)):
        seg.append(lines_batch(base, base, n, codec))
        base += n
    files["segment-00000000000000000000.log"] = seg
    return files


# ============================== build =======================================

def build_batch(b):
    pid, epoch, seq = b["producer"]
    builder = DefaultRecordBatchBuilder(
        magic=2, compression_type=b["codec"], is_transactional=False,
        producer_id=pid, producer_epoch=epoch, base_sequence=seq,
        batch_size=1 << 30)
    for r in b["records"]:
        # kafka-python takes offset deltas (a producer's view)
        meta = builder.append(r["offset"] - b["base_offset"], r["timestamp"],
                              r["key"], r["value"], r["headers"])
        if meta is None:
            die("builder refused a record")
    data = bytearray(builder.build())
    struct.pack_into(">q", data, 0, b["base_offset"])  # as the broker would
    return bytes(data)


def build_all():
    out = {}
    for name, batches in spec().items():
        out[name] = b"".join(build_batch(b) for b in batches)
    corrupt = bytearray(out[CORRUPT_OF])
    at = CORRUPT_FLIP[0] % len(corrupt)
    assert CRC_START <= at < len(corrupt) and at >= HEADER.size
    corrupt[at] ^= CORRUPT_FLIP[1]
    out[CORRUPT_NAME] = bytes(corrupt)
    return out


# ============================== decode ======================================

class Bad(Exception):
    pass


def decode_file(name, data):
    """Batches of data decoded with kafka-python's reader (CRC checked)."""
    pos, batches = 0, []
    while pos < len(data):
        if len(data) - pos < HEADER.size:
            raise Bad("%s: %d trailing bytes at %d" % (name, len(data) - pos, pos))
        length = struct.unpack_from(">i", data, pos + 8)[0]
        size = 12 + length
        if length < HEADER.size - 12 or pos + size > len(data):
            raise Bad("%s: bad batch length %d at %d" % (name, length, pos))
        raw = data[pos:pos + size]
        f = HEADER.unpack_from(raw)
        rb = DefaultRecordBatch(raw)
        if rb.magic != 2:
            raise Bad("%s@%d: magic %d" % (name, pos, rb.magic))
        if not rb.validate_crc():
            raise Bad("%s@%d: CRC mismatch" % (name, pos))
        records = [rec(r.offset, r.timestamp, r.key, r.value, r.headers)
                   for r in rb]
        batches.append({
            "position": pos, "size": size, "batch_length": length,
            "base_offset": f[0], "partition_leader_epoch": f[2], "magic": f[3],
            "crc": f[4], "attributes": f[5], "compression": f[5] & 7,
            "last_offset_delta": f[6], "base_timestamp": f[7],
            "max_timestamp": f[8], "producer_id": f[9],
            "producer_epoch": f[10], "base_sequence": f[11],
            "record_count": f[12], "records": records,
        })
        if len(records) != f[12]:
            raise Bad("%s@%d: %d records, count says %d"
                      % (name, pos, len(records), f[12]))
        pos += size
    return batches


def decode_all(files):
    """name -> decoded batches, or None for the corrupt file (checked)."""
    out = {}
    for name, data in files.items():
        if name == CORRUPT_NAME:
            rb = DefaultRecordBatch(data)
            if rb.validate_crc():
                raise Bad("%s: CRC still matches" % name)
            out[name] = None
        else:
            out[name] = decode_file(name, data)
    return out


def check_against_spec(files, decoded):
    """What kafka-python reads back is what we meant to write."""
    want = spec()
    if sorted(files) != sorted(list(want) + [CORRUPT_NAME]):
        raise Bad("file set %s" % sorted(files))
    for name, batches in want.items():
        got = decoded[name]
        if len(got) != len(batches):
            raise Bad("%s: %d batches, want %d" % (name, len(got), len(batches)))
        for g, w in zip(got, batches):
            recs = w["records"]
            exp = {
                "base_offset": w["base_offset"], "compression": w["codec"],
                "attributes": w["codec"], "partition_leader_epoch": 0,
                "last_offset_delta": len(recs) - 1, "record_count": len(recs),
                "base_timestamp": recs[0]["timestamp"],
                "max_timestamp": max(r["timestamp"] for r in recs),
                "producer_id": w["producer"][0],
                "producer_epoch": w["producer"][1],
                "base_sequence": w["producer"][2],
            }
            for k, v in exp.items():
                if g[k] != v:
                    # e.g. kafka-python sends uncompressed when compression
                    # does not pay off
                    raise Bad("%s@%d: %s is %r, want %r"
                              % (name, g["position"], k, g[k], v))
            if g["records"] != recs:
                raise Bad("%s@%d: records differ from the intended ones"
                          % (name, g["position"]))
    good, bad = files[CORRUPT_OF], files[CORRUPT_NAME]
    diff = [i for i in range(len(good)) if good[i] != bad[i]]
    if len(good) != len(bad) or len(diff) != 1 or diff[0] < max(CRC_START, HEADER.size):
        raise Bad("%s is not %s with one flipped byte in the CRC range"
                  % (CORRUPT_NAME, CORRUPT_OF))


# ============================== manifests ===================================

TSV_HEAD = (
    "# B file position size base_offset last_offset_delta codec crc "
    "record_count base_timestamp max_timestamp producer_id\n"
    "# R file offset timestamp key_hex|- value_hex|- header_count   "
    "(- means null; an empty value is written as \"\")\n"
    "# X file corrupt   (a file the decoder must reject)\n"
    "# Generated by tests/golden/gen_golden.py with kafka-python's "
    "DefaultRecordBatchBuilder; do not edit, regenerate.\n"
    "# gzip header mtime pinned to 0 (kafka-python would write the current "
    "time); every codec is then deterministic for given library versions, "
    "see manifest.json \"_about\".\n")


def hexfield(b):
    if b is None:
        return "-"
    return b.hex() if b else '""'


def b64(b):
    return None if b is None else base64.b64encode(b).decode()


def render_tsv(decoded):
    out = [TSV_HEAD]
    for name in sorted(decoded):
        if decoded[name] is None:
            out.append("X\t%s\tcorrupt\n" % name)
            continue
        for b in decoded[name]:
            out.append("B\t%s\t%s\n" % (name, "\t".join(str(b[k]) for k in (
                "position", "size", "base_offset", "last_offset_delta",
                "compression", "crc", "record_count", "base_timestamp",
                "max_timestamp", "producer_id"))))
            for r in b["records"]:
                out.append("R\t%s\t%d\t%d\t%s\t%s\t%d\n" % (
                    name, r["offset"], r["timestamp"], hexfield(r["key"]),
                    hexfield(r["value"]), len(r["headers"])))
    return "".join(out)


def render_json(files, decoded, versions):
    m = {"_about": {
        "generator": "tests/golden/gen_golden.py "
                     "(kafka.record.default_records.DefaultRecordBatchBuilder)",
        "versions": versions,
        "determinism": DETERMINISM,
        "gzip_header_mtime": GZIP_MTIME,
        "base_offset": "kafka-python writes 0; gen_golden.py writes the "
                       "absolute base offset as a broker would (outside the CRC)",
    }}
    for name, batches in decoded.items():
        if batches is None:
            m[name] = {"valid": False, "of": CORRUPT_OF,
                       "flipped_byte": CORRUPT_FLIP[0] % len(files[CORRUPT_OF]),
                       "xor": CORRUPT_FLIP[1],
                       "reason": "one byte flipped inside the CRC-32C "
                                 "covered range"}
            continue
        js = []
        for b in batches:
            jb = dict(b)
            jb["records"] = [{
                "offset": r["offset"], "timestamp": r["timestamp"],
                "key": b64(r["key"]), "value": b64(r["value"]),
                "headers": [[k, b64(v)] for k, v in r["headers"]],
            } for r in b["records"]]
            js.append(jb)
        m[name] = {"valid": True, "batches": js}
    return json.dumps(m, indent=1, sort_keys=True) + "\n"


# ============================== files =======================================

def read_dir(d):
    files = {}
    for name in list(spec()) + [CORRUPT_NAME]:
        p = os.path.join(d, name)
        if not os.path.exists(p):
            raise Bad("%s missing" % p)
        with open(p, "rb") as f:
            files[name] = f.read()
    return files


def read_text(p):
    with open(p, encoding="utf-8") as f:
        return f.read()


def verify_dir(d):
    """Decode every file in d with kafka-python, compare with the intended
    content and with d's manifests.  Returns (files, decoded, versions)."""
    files = read_dir(d)
    decoded = decode_all(files)
    check_against_spec(files, decoded)
    tsv = read_text(os.path.join(d, "manifest.tsv"))
    if tsv != render_tsv(decoded):
        raise Bad("%s/manifest.tsv does not match its .bin files" % d)
    try:
        mj = json.loads(read_text(os.path.join(d, "manifest.json")))
        versions = mj["_about"]["versions"]
    except (ValueError, KeyError) as e:
        raise Bad("%s/manifest.json: %s" % (d, e))
    if read_text(os.path.join(d, "manifest.json")) != render_json(files, decoded, versions):
        raise Bad("%s/manifest.json does not match its .bin files" % d)
    return files, decoded, versions


def generate(d):
    files = build_all()
    decoded = decode_all(files)
    check_against_spec(files, decoded)
    os.makedirs(d, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    with open(os.path.join(d, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.write(render_tsv(decoded))
    with open(os.path.join(d, "manifest.json"), "w", encoding="utf-8") as f:
        f.write(render_json(files, decoded, library_versions()))
    # read back from disk and verify what is there
    verify_dir(d)
    return files


def strip_codec_bytes(batches):
    """Decoded batches without what depends on the compressor's output."""
    return [{k: v for k, v in b.items()
             if k not in ("position", "size", "batch_length", "crc")}
            for b in batches]


def check(committed):
    """Regenerate into a temp dir and compare with the committed files."""
    try:
        _, cdec, cver = verify_dir(committed)
    except Bad as e:
        die("committed golden data in %s does not match what gen_golden.py "
            "means to write: %s (regenerate with /usr/bin/python3 "
            "tests/golden/gen_golden.py, review and commit)" % (committed, e))
    tmp = tempfile.mkdtemp(prefix="gen_golden.")
    try:
        generate(tmp)
        nver = library_versions()
        ok, notes = True, []
        for name in sorted(list(spec()) + [CORRUPT_NAME,
                                           "manifest.tsv", "manifest.json"]):
            a, b = os.path.join(committed, name), os.path.join(tmp, name)
            if filecmp.cmp(a, b, shallow=False):
                print("identical  %s" % name)
                continue
            if name.startswith("manifest."):
                # follows from the .bin files, judged below
                notes.append(name)
                continue
            codecs = set(bb["compression"] for bb in cdec.get(name) or [])
            changed = sorted(lib for c in codecs - {NONE}
                             for lib in CODEC_LIBS[c] if cver.get(lib) != nver.get(lib))
            with open(b, "rb") as f:
                ndec = decode_file(name, f.read()) if cdec.get(name) else None
            if (changed and ndec is not None and
                    strip_codec_bytes(ndec) == strip_codec_bytes(cdec[name])):
                print("DIFFERENT BYTES, SAME RECORDS  %s  (compression library "
                      "changed: %s; committed %s, here %s)" % (
                          name, ", ".join(changed),
                          {l: cver.get(l) for l in changed},
                          {l: nver.get(l) for l in changed}))
            else:
                ok = False
                why = ("same library versions, so the output should be "
                       "identical" if codecs - {NONE} else "codec none")
                print("DRIFT      %s  (%s)" % (name, why))
        bins_identical = all(filecmp.cmp(os.path.join(committed, n),
                                         os.path.join(tmp, n), shallow=False)
                             for n in list(spec()) + [CORRUPT_NAME])
        for name in notes:
            if bins_identical and name == "manifest.json" and cver != nver:
                # only "_about".versions may differ then
                a = json.loads(read_text(os.path.join(committed, name)))
                b = json.loads(read_text(os.path.join(tmp, name)))
                a["_about"].pop("versions")
                b["_about"].pop("versions")
                if a == b:
                    print("differs    %s  (only the library versions in "
                          "\"_about\")" % name)
                    continue
            if bins_identical:
                ok = False
                print("DRIFT      %s" % name)
            else:
                print("differs    %s  (follows from the .bin files above; "
                      "the committed one matches its .bin files)" % name)
        if not ok:
            print("golden data drifted: regenerate with /usr/bin/python3 "
                  "tests/golden/gen_golden.py, review and commit; temp copy "
                  "kept in %s" % tmp)
            return 1
        print("golden data reproduced (kafka-python %s)%s" % (
            kafka.__version__, "" if bins_identical else
            ": records identical, some compressed bytes differ (see above)"))
        shutil.rmtree(tmp)
        return 0
    except Bad as e:
        print("gen_golden.py: %s (temp copy kept in %s)" % (e, tmp))
        return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="directory to write (default: %(default)s)")
    ap.add_argument("--check", action="store_true",
                    help="regenerate into a temp dir and compare with --committed")
    ap.add_argument("--committed", default=DEFAULT_OUT,
                    help="committed data for --check (default: %(default)s)")
    args = ap.parse_args()
    if kafka.__version__ != "2.0.2":
        sys.stderr.write("gen_golden.py: note: kafka-python %s, the data was "
                         "made with 2.0.2\n" % kafka.__version__)
    if args.check:
        return check(args.committed)
    try:
        files = generate(args.out)
    except Bad as e:
        die(str(e))
    for name in sorted(files):
        print("%-34s %6d bytes" % (name, len(files[name])))
    print("wrote and verified %s (kafka-python %s)" % (args.out, kafka.__version__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
