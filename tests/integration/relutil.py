"""relutil.py - helpers for the reliability tests (test_rel_*.py): CRC-32C,
RecordBatch v2 encoding and parsing, a raw Produce (v3) and Fetch over
netutil's Raw connection, and segment-file surgery (batch positions, byte
flips).  Standard library only, so the tests depend on nothing but the
daemon and the Debian tools the other integration tests use.
"""
import os
import struct
import time

from netutil import Reader, i8, i16, i32, i64, kstr

# ------------------------------- CRC-32C ---------------------------------

_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


# ------------------------------ varints ----------------------------------

def zigzag(v):
    out = bytearray()
    z = (v << 1) ^ (v >> 63)
    z &= (1 << 64) - 1
    while True:
        b = z & 0x7F
        z >>= 7
        if z:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(b, pos):
    shift = result = 0
    while True:
        byte = b[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
    return (result >> 1) ^ -(result & 1), pos


# --------------------------- RecordBatch v2 ------------------------------

def encode_batch(values, ts_ms=None):
    """An uncompressed RecordBatch v2 (BaseOffset 0) of null-key records,
    timestamped now unless ts_ms is given."""
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    recs = bytearray()
    for i, v in enumerate(values):
        body = (i8(0) + zigzag(0) + zigzag(i) + zigzag(-1) +
                zigzag(len(v)) + v + zigzag(0))
        recs += zigzag(len(body)) + body
    after_crc = (i16(0) + i32(len(values) - 1) + i64(ts_ms) + i64(ts_ms) +
                 i64(-1) + i16(-1) + i32(-1) + i32(len(values)) + bytes(recs))
    crc = crc32c(after_crc)
    length = 4 + 1 + 4 + len(after_crc)           # epoch, magic, crc, rest
    return i64(0) + i32(length) + i32(-1) + i8(2) + struct.pack(">I", crc) + after_crc


def split_batches(data):
    """Yield (position, bytes) of each whole batch in data (a fetch's
    records or a .log file); stops at a torn end."""
    pos = 0
    while pos + 12 <= len(data):
        length = struct.unpack(">i", data[pos + 8:pos + 12])[0]
        end = pos + 12 + length
        if length < 49 or end > len(data):
            return
        yield pos, data[pos:end]
        pos = end


def batch_crc_ok(b):
    return struct.unpack(">I", b[17:21])[0] == crc32c(b[21:])


def batch_info(b):
    """(base_offset, last_offset, record values) of an uncompressed batch."""
    base = struct.unpack(">q", b[0:8])[0]
    last_delta = struct.unpack(">i", b[23:27])[0]
    attrs = struct.unpack(">h", b[21:23])[0]
    values = []
    if attrs & 7 == 0:
        count = struct.unpack(">i", b[57:61])[0]
        pos = 61
        for _ in range(count):
            _, pos = read_varint(b, pos)          # record length
            pos += 1                               # attributes
            _, pos = read_varint(b, pos)          # timestamp delta
            _, pos = read_varint(b, pos)          # offset delta
            kl, pos = read_varint(b, pos)
            if kl > 0:
                pos += kl
            vl, pos = read_varint(b, pos)
            values.append(None if vl < 0 else bytes(b[pos:pos + vl]))
            if vl > 0:
                pos += vl
            nh, pos = read_varint(b, pos)
            for _ in range(nh):
                hk, pos = read_varint(b, pos)
                pos += max(hk, 0)
                hv, pos = read_varint(b, pos)
                pos += max(hv, 0)
    return base, base + last_delta, values


# ----------------------------- requests ----------------------------------

def produce_v3(conn, topic, partition, batch, acks=1):
    """Produce v3 of one batch; returns (error, base_offset)."""
    body = (kstr(None) + i16(acks) + i32(10000) + i32(1) + kstr(topic) + i32(1) +
            i32(partition) + i32(len(batch)) + batch)
    r = Reader(conn.call(0, 3, body))
    assert r.i32() == 1
    r.str()
    assert r.i32() == 1
    r.i32()
    err = r.i16()
    base = r.i64()
    return err, base


def metadata_v4(conn, names, allow_create=True):
    """Metadata v4 for names; returns [(error, name)]."""
    body = i32(len(names)) + b"".join(kstr(n) for n in names) + i8(1 if allow_create else 0)
    r = Reader(conn.call(3, 4, body))
    r.i32()                                     # throttle
    for _ in range(r.i32()):                    # brokers
        r.i32()
        r.str()
        r.i32()
        r.str()
    r.str()                                     # cluster id
    r.i32()                                     # controller
    out = []
    for _ in range(r.i32()):
        err = r.i16()
        name = r.str()
        r.i8()
        for _ in range(r.i32()):
            r.i16()
            r.i32()
            r.i32()
            r.take(4 * r.i32())                 # replicas
            r.take(4 * r.i32())                 # isr
        out.append((err, name))
    return out


# ----------------------------- segment files ------------------------------

def segment_logs(partition_dir):
    return sorted(os.path.join(partition_dir, f) for f in os.listdir(partition_dir)
                  if len(f) == 24 and f.endswith(".log"))


def flip_byte(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))
