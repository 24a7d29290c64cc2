/*
 * topicfs-dump.c - print and verify topicfs / Kafka log segments, like
 * Kafka's kafka-dump-log.
 *
 *   topicfs-dump [--records] [--verify] [--quiet] [--framing lines|writes]
 *                [--progress|--no-progress] PATH...
 *
 * PATH is one of
 *   - a partition directory <data_dir>/<topic>-<p>/: every NNN.log segment
 *     in base-offset order, with its .index, .timeindex and .sindex (all
 *     three required when verifying);
 *   - a segment file NNN.log: its index files are checked when present,
 *     "not checked" when absent;
 *   - any other file: batches back to back (a single batch file such as
 *     the golden *.bin), no name or index checks.
 *
 * OUTPUT
 *
 * One line per batch ("position: ... base_offset: ... last_offset: ...
 * count: ... codec: ... size: ... crc_valid: ... max_timestamp: ...
 * producer_id: ..."), with --records one "| offset: ..." line per record
 * (key and value in double quotes, bytes outside printable ASCII escaped
 * as \n, \t, \r, \\, \" or \xHH; null as null).  --quiet drops those lines
 * and keeps the problems and the summary.
 *
 * VERIFICATION (--verify)
 *
 * Every problem is printed as "PROBLEM <file>: position <n>: <what>" and
 * counted; the exit status is 1 when there was any, 0 when clean, after the
 * summary line "verified N batches, M records, K index entries: OK" (or
 * ": P problems").  Checked:
 *
 *   .log       every batch is in bounds with magic 2, its CRC matches and
 *              it decodes (batch_decode: codec, counts, records, offset
 *              deltas 0..n-1); offsets are contiguous: each batch's base
 *              offset is the previous batch's last offset + 1, within a
 *              segment and across the segments of a partition directory;
 *              a segment's name is its first batch's base offset (an empty
 *              segment's name is the next expected offset).
 *   .index     8-byte entries (int32 relative offset, int32 position): the
 *              position is the start of a batch and the relative offset is
 *              that batch's LAST offset - segment base (Kafka's
 *              LogSegment.append); both strictly increase.  An all-zero
 *              entry after the first is a preallocated tail: a problem.
 *   .timeindex 12-byte entries (int64 timestamp, int32 relative offset):
 *              timestamps strictly increase, relative offsets do not
 *              decrease; each relative offset is some batch's last offset,
 *              the timestamp is that batch's MaxTimestamp and larger than
 *              the MaxTimestamp of every earlier batch of the segment (so a
 *              time lookup starting there misses nothing).
 *   .sindex    16-byte entries (int64 stream position, int32 relative
 *              offset = batch BASE offset - segment base, int32 position):
 *              the segment's first batch has an entry; relative offsets
 *              and positions strictly increase, stream positions do not
 *              decrease (a batch may render to zero bytes with `writes`);
 *              the position is a batch start, the relative offset matches
 *              it, and the stream position equals the segment's first
 *              entry's plus the bytes rendered by the batches before it.
 *              Across the segments of a partition directory the stream is
 *              continuous: a segment starts where the previous one ended.
 *              Rendering: `lines` value + "\n" per record (null -> "\n"),
 *              `writes` raw value (null -> nothing); control batches render
 *              nothing.  Framing: --framing, else framing= in
 *              <data_dir>/<topic>.topic, else lines.
 *
 * Exit status: 0 ok, 1 problems or unreadable input, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"
#include "batch_internal.h"
#include "progress.h"

#define DUMP_VERSION        "0.1.0"
#define DUMP_MAX_BYTES      (256u * 1024 * 1024)  /* decode bound per batch */
#define SEG_NAME_DIGITS     20
#define INDEX_ENTRY         8
#define TIMEINDEX_ENTRY     12
#define SINDEX_ENTRY        16

struct dump_opts {
	bool records;
	bool verify;
	bool quiet;
	int framing;                /* FRAMING_*, or -1: from the topic file */
};

static struct progress prog;      /* --progress: a line on stderr */
static int progress_mode = PROGRESS_AUTO;

struct dump_stats {
	long long batches;
	long long records;
	long long index_entries;
	long long problems;
	bool io_error;
};

/* What the index checks need to know about one batch. */
struct batch_info {
	int64_t pos;                /* file position of the batch */
	int64_t base;               /* base offset */
	int64_t last;               /* last offset */
	int64_t max_ts;
	int64_t stream_len;         /* rendered bytes, -1 when undecodable */
};

struct seg_scan {
	struct batch_info *b;
	size_t nb, cap;
	int64_t next_offset;        /* last offset + 1 of the last batch, or -1 */
};

static struct dump_opts opts = { false, false, false, -1 };
static struct dump_stats stats;

/* ============================== output =================================== */

__attribute__((format(printf, 3, 4)))
static void problem(const char *path, int64_t pos, const char *fmt, ...)
{
	va_list ap;

	stats.problems++;
	if (!opts.verify)
		return;
	progress_clear(&prog);          /* the problem goes on a line of its own */
	if (pos >= 0)
		printf("PROBLEM %s: position %" PRId64 ": ", path, pos);
	else
		printf("PROBLEM %s: ", path);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void print_bytes(const uint8_t *p, int32_t len)
{
	if (len < 0 || !p) {
		fputs(len < 0 ? "null" : "\"\"", stdout);
		return;
	}
	putchar('"');
	for (int32_t i = 0; i < len; i++) {
		uint8_t c = p[i];
		switch (c) {
		case '\n': fputs("\\n", stdout); break;
		case '\t': fputs("\\t", stdout); break;
		case '\r': fputs("\\r", stdout); break;
		case '\\': fputs("\\\\", stdout); break;
		case '"': fputs("\\\"", stdout); break;
		default:
			if (c >= 0x20 && c < 0x7f)
				putchar(c);
			else
				printf("\\x%02x", c);
		}
	}
	putchar('"');
}

/* ============================== files ==================================== */

/* A read-only view of a whole file. */
struct mapped {
	const uint8_t *data;
	size_t len;
	void *map;
};

static int map_file(const char *path, struct mapped *m)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	m->len = (size_t)st.st_size;
	m->map = NULL;
	m->data = (const uint8_t *)"";
	if (st.st_size > 0) {
		m->map = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->map == MAP_FAILED) {
			rc = -errno;
			m->map = NULL;
			goto out;
		}
		m->data = m->map;
	}
out:
	close(fd);
	return rc;
}

static void unmap_file(struct mapped *m)
{
	if (m->map)
		munmap(m->map, m->len);
	m->map = NULL;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* "00000000000000000042.log" -> 42; -1 if name is not 20 digits + ext. */
static int64_t segment_base_from_name(const char *name, const char *ext)
{
	size_t n = strlen(name), k = strlen(ext);
	int64_t base = 0;

	if (n != SEG_NAME_DIGITS + k || strcmp(name + SEG_NAME_DIGITS, ext) != 0)
		return -1;
	for (int i = 0; i < SEG_NAME_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -1;
		if (base > (INT64_MAX - (name[i] - '0')) / 10)
			return -1;
		base = base * 10 + (name[i] - '0');
	}
	return base;
}

/* Framing of the topic that partition directory part_dir belongs to:
 * <data_dir>/<topic>.topic with topic = dir name up to the last '-'. */
static int framing_for_partition_dir(const char *part_dir)
{
	char dir[4096], path[4200];
	int framing = FRAMING_LINES;

	if (opts.framing >= 0)
		return opts.framing;
	snprintf(dir, sizeof(dir), "%s", part_dir);
	size_t n = strlen(dir);
	while (n > 1 && dir[n - 1] == '/')
		dir[--n] = 0;
	char *slash = strrchr(dir, '/');
	const char *part = slash ? slash + 1 : dir;
	const char *data_dir = slash ? (slash == dir ? "/" : dir) : ".";
	const char *dash = strrchr(part, '-');
	if (!dash || dash == part)
		return framing;
	char topic[512];
	snprintf(topic, sizeof(topic), "%.*s", (int)(dash - part), part);
	if (slash)
		*slash = 0;
	snprintf(path, sizeof(path), "%s/%s.topic", data_dir, topic);
	FILE *f = fopen(path, "r");
	if (!f)
		return framing;
	char line[512];
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = 0;
		if (strncmp(line, "framing=", 8) == 0) {
			if (strcmp(line + 8, "writes") == 0)
				framing = FRAMING_WRITES;
			else if (strcmp(line + 8, "lines") == 0)
				framing = FRAMING_LINES;
		}
	}
	fclose(f);
	return framing;
}

static int64_t rendered_len(const struct batch_decoded *d, int framing)
{
	int64_t total = 0;

	if (d->h.attributes & BATCH_ATTR_CONTROL)
		return 0;
	for (size_t i = 0; i < d->nrecs; i++) {
		int32_t vlen = d->recs[i].value_len;
		total += vlen > 0 ? vlen : 0;
		if (framing == FRAMING_LINES)
			total += 1;
	}
	return total;
}

/* ============================== .log ===================================== */

static int scan_push(struct seg_scan *s, const struct batch_info *bi)
{
	if (s->nb == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct batch_info *nb = realloc(s->b, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		s->b = nb;
		s->cap = cap;
	}
	s->b[s->nb++] = *bi;
	return 0;
}

static void print_records(const struct batch_decoded *d)
{
	for (size_t i = 0; i < d->nrecs; i++) {
		const struct record *r = &d->recs[i];
		printf("| offset: %" PRId64 " timestamp: %" PRId64 " key: ",
		       r->offset, r->timestamp);
		print_bytes(r->key, r->key_len);
		fputs(" value: ", stdout);
		print_bytes(r->value, r->value_len);
		printf(" headers: %" PRId32 "\n", r->header_count);
	}
}

/* Walk the batches of one file.  expected_first: the offset the first batch
 * must have (-1: anything).  Fills *scan. */
static int scan_log(const char *path, int64_t expected_first, int framing,
                    struct seg_scan *scan)
{
	struct mapped m;
	int rc = map_file(path, &m);

	if (rc < 0) {
		fprintf(stderr, "topicfs-dump: open %s: %s\n", path, strerror(-rc));
		stats.io_error = true;
		return rc;
	}
	if (!opts.quiet)
		printf("Dumping %s\n", path);

	int64_t expected = expected_first;
	size_t pos = 0;
	while (pos < m.len) {
		struct batch_header h;
		rc = batch_parse_header(m.data + pos, m.len - pos, &h);
		if (rc == -EAGAIN) {
			if (m.len - pos >= BATCH_LOG_OVERHEAD)
				problem(path, (int64_t)pos, "truncated batch: %zu of %lld bytes present",
				        m.len - pos, (long long)h.length + BATCH_LOG_OVERHEAD);
			else
				problem(path, (int64_t)pos, "truncated batch: %zu bytes of a header",
				        m.len - pos);
			if (!opts.verify)
				printf("position: %zu truncated batch\n", pos);
			break;
		}
		if (rc < 0) {
			problem(path, (int64_t)pos, "bad batch header (Length or magic): cannot go on");
			if (!opts.verify)
				printf("position: %zu bad batch header\n", pos);
			break;
		}
		size_t blen = (size_t)BATCH_LOG_OVERHEAD + (size_t)h.length;
		bool crc_ok = batch_check_crc(m.data + pos, blen) == 0;
		int64_t last = h.base_offset + (int64_t)h.last_offset_delta;
		if (h.last_offset_delta < 0 || last < h.base_offset)
			last = h.base_offset;
		int codec = h.attributes & BATCH_ATTR_CODEC_MASK;

		stats.batches++;
		progress_add(&prog, 1, h.records_count > 0 ? (uint64_t)h.records_count : 0,
		             blen, last);
		if (!opts.quiet)
			printf("position: %zu base_offset: %" PRId64 " last_offset: %" PRId64
			       " count: %" PRId32 " codec: %s size: %zu crc_valid: %s"
			       " max_timestamp: %" PRId64 " producer_id: %" PRId64 "\n",
			       pos, h.base_offset, last, h.records_count,
			       codec_name(codec), blen, crc_ok ? "true" : "false",
			       h.max_timestamp, h.producer_id);

		struct batch_info bi = { (int64_t)pos, h.base_offset, last,
		                         h.max_timestamp, -1 };
		struct batch_decoded d;
		int drc = batch_decode(m.data + pos, blen, DUMP_MAX_BYTES, &d);
		if (drc == 0) {
			stats.records += (long long)d.nrecs;
			bi.stream_len = rendered_len(&d, framing);
			if (opts.records && !opts.quiet)
				print_records(&d);
			batch_decoded_free(&d);
		} else {
			if (!crc_ok)
				problem(path, (int64_t)pos, "CRC mismatch (stored %08" PRIx32
				        ", computed %08" PRIx32 ")", h.crc,
				        crc32c(0, m.data + pos + 21, blen - 21));
			else
				problem(path, (int64_t)pos, "batch does not decode: %s",
				        strerror(-drc));
			if (opts.records && !opts.quiet)
				printf("| records not decodable: %s\n", strerror(-drc));
		}
		if (expected >= 0 && h.base_offset != expected)
			problem(path, (int64_t)pos, "base offset %" PRId64 " but %" PRId64
			        " expected (offsets not contiguous)", h.base_offset, expected);
		expected = last + 1;
		if (scan_push(scan, &bi) < 0) {
			fprintf(stderr, "topicfs-dump: out of memory\n");
			stats.io_error = true;
			break;
		}
		pos += blen;
	}
	scan->next_offset = scan->nb ? expected : -1;
	unmap_file(&m);
	return 0;
}

/* ============================== indexes ================================== */

/* Index of the batch starting at pos, or -1. */
static ssize_t batch_at_pos(const struct seg_scan *s, int64_t pos)
{
	size_t lo = 0, hi = s->nb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->b[mid].pos < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nb && s->b[lo].pos == pos ? (ssize_t)lo : -1;
}

/* Index of the batch whose last offset is last, or -1. */
static ssize_t batch_with_last(const struct seg_scan *s, int64_t last)
{
	size_t lo = 0, hi = s->nb;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->b[mid].last < last)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nb && s->b[lo].last == last ? (ssize_t)lo : -1;
}

/* Map an index file; 1 if present, 0 if absent (a problem when required),
 * negative on error. */
static int open_index(const char *path, bool required, size_t entry,
                      struct mapped *m)
{
	if (!file_exists(path)) {
		if (required)
			problem(path, -1, "missing index file");
		else if (opts.verify && !opts.quiet)
			printf("%s: not present, not checked\n", path);
		return 0;
	}
	int rc = map_file(path, m);
	if (rc < 0) {
		problem(path, -1, "cannot read: %s", strerror(-rc));
		return rc;
	}
	if (m->len % entry)
		problem(path, -1, "size %zu is not a multiple of %zu", m->len, entry);
	return 1;
}

static void check_offset_index(const char *path, int64_t seg_base,
                               const struct seg_scan *s, bool required)
{
	struct mapped m;
	if (open_index(path, required, INDEX_ENTRY, &m) <= 0)
		return;
	int64_t prev_rel = -1, prev_pos = -1;
	for (size_t i = 0; i + INDEX_ENTRY <= m.len; i += INDEX_ENTRY) {
		int64_t rel = (int32_t)be32_get(m.data + i);
		int64_t pos = (int32_t)be32_get(m.data + i + 4);
		int64_t at = (int64_t)i;
		stats.index_entries++;
		if (i > 0 && rel == 0 && pos == 0) {
			problem(path, at, "all-zero entry (preallocated tail?)");
			continue;
		}
		if (rel <= prev_rel || pos <= prev_pos)
			problem(path, at, "entry (%" PRId64 ", %" PRId64 ") does not increase "
			        "after (%" PRId64 ", %" PRId64 ")", rel, pos, prev_rel, prev_pos);
		prev_rel = rel;
		prev_pos = pos;
		ssize_t b = batch_at_pos(s, pos);
		if (b < 0) {
			problem(path, at, "position %" PRId64 " is not the start of a batch", pos);
			continue;
		}
		if (seg_base + rel != s->b[b].last)
			problem(path, at, "relative offset %" PRId64 " (offset %" PRId64
			        ") is not the last offset %" PRId64 " of the batch at %" PRId64,
			        rel, seg_base + rel, s->b[b].last, pos);
	}
	unmap_file(&m);
}

static void check_time_index(const char *path, int64_t seg_base,
                             const struct seg_scan *s, bool required)
{
	struct mapped m;
	if (open_index(path, required, TIMEINDEX_ENTRY, &m) <= 0)
		return;
	int64_t prev_ts = INT64_MIN, prev_rel = -1;
	for (size_t i = 0; i + TIMEINDEX_ENTRY <= m.len; i += TIMEINDEX_ENTRY) {
		int64_t ts = (int64_t)be64_get(m.data + i);
		int64_t rel = (int32_t)be32_get(m.data + i + 8);
		int64_t at = (int64_t)i;
		stats.index_entries++;
		if (i > 0 && ts == 0 && rel == 0) {
			problem(path, at, "all-zero entry (preallocated tail?)");
			continue;
		}
		if (i > 0 && ts <= prev_ts)
			problem(path, at, "timestamp %" PRId64 " does not increase after %"
			        PRId64, ts, prev_ts);
		if (rel < prev_rel)
			problem(path, at, "relative offset %" PRId64 " decreases after %"
			        PRId64, rel, prev_rel);
		prev_ts = ts;
		prev_rel = rel;
		ssize_t b = batch_with_last(s, seg_base + rel);
		if (b < 0) {
			problem(path, at, "relative offset %" PRId64 " (offset %" PRId64
			        ") is not the last offset of a batch in the segment",
			        rel, seg_base + rel);
			continue;
		}
		if (s->b[b].max_ts != ts)
			problem(path, at, "timestamp %" PRId64 " is not the max timestamp %"
			        PRId64 " of the batch ending at offset %" PRId64,
			        ts, s->b[b].max_ts, s->b[b].last);
		for (ssize_t k = 0; k < b; k++) {
			if (s->b[k].max_ts >= ts) {
				problem(path, at, "an earlier batch (offset %" PRId64 ") already "
				        "has timestamp %" PRId64 " >= %" PRId64
				        ": time lookups would miss it",
				        s->b[k].base, s->b[k].max_ts, ts);
				break;
			}
		}
	}
	unmap_file(&m);
}

/* Check the .sindex of a segment.  *stream_start: in, the stream position
 * this segment must start at (-1: unknown, take it from the first entry);
 * out, where the next segment must start (-1 when unknown). */
static void check_stream_index(const char *path, int64_t seg_base,
                               const struct seg_scan *s, bool required,
                               int64_t *stream_start)
{
	struct mapped m;
	int64_t expected_start = *stream_start;

	*stream_start = -1;
	if (open_index(path, required, SINDEX_ENTRY, &m) <= 0) {
		/* an empty segment passes the stream position through */
		if (s->nb == 0)
			*stream_start = expected_start;
		return;
	}
	size_t nentries = m.len / SINDEX_ENTRY;
	int64_t start = expected_start;
	if (nentries == 0) {
		if (s->nb > 0)
			problem(path, -1, "no entry for the first batch of the segment");
		else
			*stream_start = expected_start;
		unmap_file(&m);
		return;
	}

	/* Stream position of each batch relative to the segment's start;
	 * -1 from the first undecodable batch on. */
	int64_t *before = malloc((s->nb + 1) * sizeof(*before));
	if (!before) {
		unmap_file(&m);
		stats.io_error = true;
		return;
	}
	before[0] = 0;
	for (size_t j = 0; j < s->nb; j++)
		before[j + 1] = before[j] < 0 || s->b[j].stream_len < 0 ? -1 :
		                before[j] + s->b[j].stream_len;

	int64_t first_stream = (int64_t)be64_get(m.data);
	if (start >= 0 && first_stream != start)
		problem(path, 0, "segment starts at stream position %" PRId64
		        " but the previous segment ended at %" PRId64
		        " (stream not continuous)", first_stream, start);
	start = first_stream;

	int64_t prev_stream = -1, prev_rel = -1, prev_pos = -1;
	for (size_t e = 0; e < nentries; e++) {
		const uint8_t *p = m.data + e * SINDEX_ENTRY;
		int64_t stream = (int64_t)be64_get(p);
		int64_t rel = (int32_t)be32_get(p + 8);
		int64_t pos = (int32_t)be32_get(p + 12);
		int64_t at = (int64_t)(e * SINDEX_ENTRY);
		stats.index_entries++;
		if (e == 0 && (rel != 0 || pos != 0) && s->nb > 0)
			problem(path, at, "first entry (%" PRId64 ", %" PRId64 ", %" PRId64
			        ") is not the segment's first batch", stream, rel, pos);
		if (e > 0 && (stream < prev_stream || rel <= prev_rel || pos <= prev_pos))
			problem(path, at, "entry (%" PRId64 ", %" PRId64 ", %" PRId64
			        ") does not increase", stream, rel, pos);
		prev_stream = stream;
		prev_rel = rel;
		prev_pos = pos;
		ssize_t b = batch_at_pos(s, pos);
		if (b < 0) {
			problem(path, at, "position %" PRId64 " is not the start of a batch", pos);
			continue;
		}
		if (seg_base + rel != s->b[b].base)
			problem(path, at, "relative offset %" PRId64 " (offset %" PRId64
			        ") is not the base offset %" PRId64 " of the batch at %" PRId64,
			        rel, seg_base + rel, s->b[b].base, pos);
		if (before[b] >= 0 && stream != start + before[b])
			problem(path, at, "stream position %" PRId64 " but the batch at %"
			        PRId64 " renders from %" PRId64, stream, pos,
			        start + before[b]);
	}
	if (before[s->nb] >= 0)
		*stream_start = start + before[s->nb];
	free(before);
	unmap_file(&m);
}

/* ============================== segments ================================= */

/* Dump one segment.  log_path ends in .log; when its name is NNN.log the
 * offsets must start at NNN and the indexes beside it are checked
 * (required: a problem when missing).  *next_offset and *stream_pos carry
 * the partition's continuity from segment to segment (-1 = unknown). */
static void dump_segment(const char *log_path, bool required, int framing,
                         int64_t *next_offset, int64_t *stream_pos)
{
	struct seg_scan scan = { NULL, 0, 0, -1 };
	const char *name = base_name(log_path);
	int64_t seg_base = segment_base_from_name(name, ".log");

	/* A lone file may carry a prefix ("segment-<20 digits>.log"). */
	if (seg_base < 0 && !required && strlen(name) > SEG_NAME_DIGITS + 4)
		seg_base = segment_base_from_name(name + strlen(name) -
		                                  (SEG_NAME_DIGITS + 4), ".log");
	if (seg_base < 0 && opts.verify && !opts.quiet)
		printf("%s: not named <20-digit base offset>.log: name and indexes "
		       "not checked\n", log_path);

	if (seg_base >= 0 && *next_offset >= 0 && seg_base != *next_offset)
		problem(log_path, -1, "segment base %" PRId64 " but the previous segment "
		        "ends before offset %" PRId64 " (offsets not contiguous)",
		        seg_base, *next_offset);
	int64_t expected = seg_base >= 0 ? seg_base : *next_offset;
	if (scan_log(log_path, expected, framing, &scan) < 0) {
		*next_offset = -1;
		*stream_pos = -1;
		return;
	}
	if (seg_base >= 0 && opts.verify) {
		char prefix[4096], path[4200];
		size_t n = strlen(log_path) - 4;
		snprintf(prefix, sizeof(prefix), "%.*s", (int)n, log_path);
		snprintf(path, sizeof(path), "%s.index", prefix);
		check_offset_index(path, seg_base, &scan, required);
		snprintf(path, sizeof(path), "%s.timeindex", prefix);
		check_time_index(path, seg_base, &scan, required);
		snprintf(path, sizeof(path), "%s.sindex", prefix);
		check_stream_index(path, seg_base, &scan, required, stream_pos);
	} else {
		*stream_pos = -1;
	}
	if (scan.nb > 0)
		*next_offset = scan.next_offset;
	else if (seg_base >= 0)
		*next_offset = seg_base;
	free(scan.b);
}

static int cmp_int64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void dump_partition_dir(const char *dir_path)
{
	DIR *dir = opendir(dir_path);
	int64_t *bases = NULL;
	size_t nbases = 0, cap = 0;

	if (!dir) {
		fprintf(stderr, "topicfs-dump: opendir %s: %s\n", dir_path,
		        strerror(errno));
		stats.io_error = true;
		return;
	}
	int framing = framing_for_partition_dir(dir_path);
	struct dirent *de;
	char path[4200];
	while ((de = readdir(dir)) != NULL) {
		int64_t base = segment_base_from_name(de->d_name, ".log");
		if (base < 0) {
			/* an index without its log is an orphan */
			static const char *const exts[] = { ".index", ".timeindex", ".sindex" };
			for (size_t k = 0; k < 3 && opts.verify; k++) {
				int64_t ib = segment_base_from_name(de->d_name, exts[k]);
				if (ib < 0)
					continue;
				snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", dir_path, ib);
				if (!file_exists(path)) {
					snprintf(path, sizeof(path), "%s/%s", dir_path, de->d_name);
					problem(path, -1, "index file without its .log segment");
				}
			}
			continue;
		}
		if (nbases == cap) {
			cap = cap ? cap * 2 : 64;
			int64_t *nb = realloc(bases, cap * sizeof(*nb));
			if (!nb) {
				stats.io_error = true;
				goto out;
			}
			bases = nb;
		}
		bases[nbases++] = base;
	}
	qsort(bases, nbases, sizeof(*bases), cmp_int64);
	if (nbases == 0 && opts.verify)
		problem(dir_path, -1, "no .log segment in the partition directory");

	int64_t next_offset = -1, stream_pos = -1;
	for (size_t i = 0; i < nbases; i++) {
		snprintf(path, sizeof(path), "%s/%020" PRId64 ".log", dir_path, bases[i]);
		dump_segment(path, true, framing, &next_offset, &stream_pos);
	}
out:
	free(bases);
	closedir(dir);
}

static void dump_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(stderr, "topicfs-dump: %s: %s\n", path, strerror(errno));
		stats.io_error = true;
		return;
	}
	if (S_ISDIR(st.st_mode)) {
		dump_partition_dir(path);
		return;
	}
	int64_t next_offset = -1, stream_pos = -1;
	if (has_suffix(path, ".log")) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(dir, sizeof(dir), ".");
		int framing = framing_for_partition_dir(dir);
		dump_segment(path, false, framing, &next_offset, &stream_pos);
		return;
	}
	/* any other file: batches back to back */
	struct seg_scan scan = { NULL, 0, 0, -1 };
	scan_log(path, -1, opts.framing >= 0 ? opts.framing : FRAMING_LINES, &scan);
	free(scan.b);
}

/* ============================== main ===================================== */

static void usage(FILE *f)
{
	fputs("usage: topicfs-dump [--records] [--verify] [--quiet] "
	      "[--framing lines|writes] PATH...\n"
	      "  PATH        a partition directory, a .log segment or a batch file\n"
	      "  --records   print every record too\n"
	      "  --verify    check batches, offsets and indexes; exit 1 on any problem\n"
	      "  --quiet     with --verify: print only problems and the summary\n"
	      "  --framing   stream framing for .sindex checks (default: the topic's\n"
	      "              <data_dir>/<topic>.topic, else lines)\n"
	      "  --progress, --no-progress\n"
	      "              a progress line on stderr (default: when stderr is a\n"
	      "              terminal and stdout is not, or with --quiet)\n"
	      "  --help, --version\n"
	      "Exit status: 0 ok, 1 problems or unreadable input, 2 usage.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "records", no_argument, NULL, 'r' },
		{ "verify", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "framing", required_argument, NULL, 'f' },
		{ "progress", no_argument, NULL, 'P' },
		{ "no-progress", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "rvqf:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': opts.records = true; break;
		case 'v': opts.verify = true; break;
		case 'q': opts.quiet = true; break;
		case 'P': progress_mode = PROGRESS_ON; break;
		case 'N': progress_mode = PROGRESS_OFF; break;
		case 'f':
			if (strcmp(optarg, "lines") == 0) {
				opts.framing = FRAMING_LINES;
			} else if (strcmp(optarg, "writes") == 0) {
				opts.framing = FRAMING_WRITES;
			} else {
				fprintf(stderr, "topicfs-dump: unknown framing '%s'\n", optarg);
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("topicfs-dump " DUMP_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "topicfs-dump: no PATH given\n");
		usage(stderr);
		return 2;
	}
	progress_init(&prog, progress_mode, opts.quiet, opts.verify ? "verify" : "dump");
	for (int i = optind; i < argc; i++)
		dump_path(argv[i]);
	progress_clear(&prog);

	if (opts.verify) {
		printf("verified %lld batches, %lld records, %lld index entries: ",
		       stats.batches, stats.records, stats.index_entries);
		if (stats.problems == 0 && !stats.io_error)
			puts("OK");
		else
			printf("%lld problem%s\n", stats.problems + (stats.io_error ? 1 : 0),
			       stats.problems + (stats.io_error ? 1 : 0) == 1 ? "" : "s");
	}
	fflush(stdout);
	if (stats.io_error)
		return 1;
	if (opts.verify && stats.problems)
		return 1;
	return 0;
}
