/*
 * logger.c - one log for the whole process.
 *
 * Every module (storage/, net/, fs/, daemon/, the tools) logs through
 * tfs_log(): one line per event, "topicfs: <what>" on stderr, or the same
 * text through syslog(3) (ident "topicfs", facility LOG_DAEMON) once the
 * daemon has detached.  A line is emitted when its level is at or below
 * the configured one (error < warn < info < debug); the default is info.
 * Lines are formatted into a local buffer and written with one write(2),
 * so lines from different threads never interleave mid-line.
 *
 * State: the level and the syslog switch are atomics (set by main() before
 * the threads start, read by every thread).  Thread-safe.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "logger.h"

static atomic_int log_level = TFS_LOG_INFO;
static atomic_bool log_syslog;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void tfs_log_set_level(int level)
{
	if (level < TFS_LOG_ERROR)
		level = TFS_LOG_ERROR;
	if (level > TFS_LOG_DEBUG)
		level = TFS_LOG_DEBUG;
	atomic_store(&log_level, level);
}

int tfs_log_get_level(void)
{
	return atomic_load(&log_level);
}

int tfs_log_level_from_name(const char *name)
{
	for (int i = 0; i <= TFS_LOG_DEBUG; i++)
		if (!strcasecmp(name, level_names[i]))
			return i;
	if (!strcasecmp(name, "warning"))
		return TFS_LOG_WARN;
	return -1;
}

const char *tfs_log_level_name(int level)
{
	if (level < TFS_LOG_ERROR || level > TFS_LOG_DEBUG)
		return "unknown";
	return level_names[level];
}

void tfs_log_use_syslog(bool on)
{
	if (on && !atomic_load(&log_syslog))
		openlog("topicfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&log_syslog, on);
}

bool tfs_log_enabled(int level)
{
	return level <= atomic_load(&log_level);
}

void tfs_vlog(int level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	char line[1024];
	int n;

	if (!tfs_log_enabled(level))
		return;
	if (level < TFS_LOG_ERROR)
		level = TFS_LOG_ERROR;
	if (level > TFS_LOG_DEBUG)
		level = TFS_LOG_DEBUG;
	n = vsnprintf(line, sizeof line - 1, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof line - 2)
		n = (int)sizeof line - 2;
	/* one line per event: no embedded newlines, none at the end */
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n] = '\0';
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	if (atomic_load(&log_syslog)) {
		syslog(prio[level], "%s", line);
	} else {
		char out[1100];
		int len = snprintf(out, sizeof out, "topicfs: %s\n", line);
		if (len > 0) {
			if ((size_t)len >= sizeof out)
				len = (int)sizeof out - 1;
			if (write(STDERR_FILENO, out, (size_t)len) < 0) {
				/* nowhere left to report it */
			}
		}
	}
}

void tfs_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tfs_vlog(level, fmt, ap);
	va_end(ap);
}

