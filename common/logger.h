/*
 * logger.h - one log for the whole process (logger.c).
 */
#ifndef TOPICFS_LOGGER_H
#define TOPICFS_LOGGER_H

#include <stdarg.h>
#include <stdbool.h>

/* One log for the whole process (logger.c), used by storage/, net/, fs/ and
 * the tools: one line per event, "topicfs: <fmt>" on stderr, or syslog(3)
 * (ident "topicfs", LOG_DAEMON) after tfs_log_use_syslog(true).  Lines
 * above the level set with tfs_log_set_level (default TFS_LOG_INFO) are
 * dropped.  Thread-safe; a line is written with one write(2). */
enum tfs_log_level {
	TFS_LOG_ERROR = 0,          /* something failed: data or service at risk */
	TFS_LOG_WARN = 1,           /* recovered from, or refused, with a cause */
	TFS_LOG_INFO = 2,           /* start, stop, mounts, recoveries */
	TFS_LOG_DEBUG = 3,
};
void tfs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tfs_vlog(int level, const char *fmt, va_list ap);
bool tfs_log_enabled(int level);
void tfs_log_set_level(int level);
int tfs_log_get_level(void);
/* "error", "warn" (or "warning"), "info", "debug" -> level; -1 if unknown. */
int tfs_log_level_from_name(const char *name);
const char *tfs_log_level_name(int level);
void tfs_log_use_syslog(bool on);

#endif /* TOPICFS_LOGGER_H */
