/*
 * progress.h - the one-line progress display of the long-running tools
 * (topicfs-dump --verify, topicfs-consume), header-only.
 *
 * The line goes to stderr, is redrawn in place ("\r", erase to the end of
 * the line) at most PROGRESS_INTERVAL_MS apart, and is erased at the end,
 * so nothing of it stays in a terminal's scrollback or reaches a file.
 * Mode: PROGRESS_AUTO shows it when stderr is a terminal and stdout is not
 * (or the tool prints little on stdout: quiet), PROGRESS_ON/OFF force it
 * (--progress / --no-progress).  Not thread-safe: one per program.
 */
#ifndef TOPICFS_PROGRESS_H
#define TOPICFS_PROGRESS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_INTERVAL_MS 250

enum progress_mode { PROGRESS_AUTO = -1, PROGRESS_OFF = 0, PROGRESS_ON = 1 };

struct progress {
	bool on;
	bool drawn;             /* a line is on the screen */
	const char *what;       /* "verify", "consume" */
	int64_t start_ms, last_ms;
	uint64_t batches, records, bytes;
	int64_t offset;         /* last offset seen, -1 = none */
};

static inline int64_t progress_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void progress_init(struct progress *p, int mode, bool quiet_stdout,
                                 const char *what)
{
	p->on = mode == PROGRESS_AUTO ? isatty(STDERR_FILENO) &&
	                                (quiet_stdout || !isatty(STDOUT_FILENO))
	                              : mode == PROGRESS_ON;
	p->drawn = false;
	p->what = what;
	p->start_ms = progress_now_ms();
	p->last_ms = p->start_ms - PROGRESS_INTERVAL_MS;       /* draw at once */
	p->batches = p->records = p->bytes = 0;
	p->offset = -1;
}

static inline void progress_human(char *buf, size_t len, double v, const char *unit)
{
	static const char *const pre[] = { "", "K", "M", "G", "T" };
	int i = 0;
	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s%s" : "%.0f %s%s", v, pre[i], unit);
}

static inline void progress_draw(struct progress *p, int64_t now)
{
	char bytes[32], rate[32];
	double secs = (double)(now - p->start_ms) / 1000;

	progress_human(bytes, sizeof bytes, (double)p->bytes, "B");
	progress_human(rate, sizeof rate, secs > 0 ? (double)p->bytes / secs : 0, "B/s");
	fprintf(stderr, "\r\033[K%s: ", p->what);
	if (p->batches)
		fprintf(stderr, "%" PRIu64 " batches, ", p->batches);
	fprintf(stderr, "%" PRIu64 " records, %s, %s, %.0f records/s", p->records, bytes,
	        rate, secs > 0 ? (double)p->records / secs : 0);
	if (p->offset >= 0)
		fprintf(stderr, ", offset %" PRId64, p->offset);
	fflush(stderr);
	p->drawn = true;
	p->last_ms = now;
}

/* Count work done; redraws when the interval passed. */
static inline void progress_add(struct progress *p, uint64_t batches, uint64_t records,
                                uint64_t bytes, int64_t offset)
{
	p->batches += batches;
	p->records += records;
	p->bytes += bytes;
	if (offset >= 0)
		p->offset = offset;
	if (!p->on)
		return;
	int64_t now = progress_now_ms();
	if (now - p->last_ms >= PROGRESS_INTERVAL_MS)
		progress_draw(p, now);
}

/* Erase the line (before printing a summary, and at exit). */
static inline void progress_clear(struct progress *p)
{
	if (p->on && p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		p->drawn = false;
	}
}

#endif /* TOPICFS_PROGRESS_H */
