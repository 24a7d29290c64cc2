/*
 * clock.h - the two clocks every module reads, the one place for them.
 *
 *   tfs_now_ms()   CLOCK_REALTIME in ms since the epoch: record timestamps,
 *                  time-based retention, anything shown to a user.
 *   tfs_mono_ms()  CLOCK_MONOTONIC in ms: deadlines, timeouts, intervals
 *                  (never jumps with the wall clock).
 *
 * Header-only; thread-safe.
 */
#ifndef TOPICFS_CLOCK_H
#define TOPICFS_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t tfs_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t tfs_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif /* TOPICFS_CLOCK_H */
