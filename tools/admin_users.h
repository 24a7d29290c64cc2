/*
 * admin_users.h - `topicfs-admin user add|delete|list` (admin_users.c):
 * the SASL users file, edited while the daemon runs.
 */
#ifndef TOPICFS_ADMIN_USERS_H
#define TOPICFS_ADMIN_USERS_H

#include <stdbool.h>
#include <stddef.h>

#define EXIT_ADMIN_USAGE 2

/* argv[0] = "user", argv[1] = add | delete | list, argv[2] = NAME.  The
 * configuration is built as topicfs-admin builds it (config: -c FILE or
 * NULL, sets: --set values, data_dir: --data-dir or NULL).  Returns the
 * exit status: 0 done, 1 failed, 2 usage or configuration error. */
int admin_users_main(const char *config, const char *data_dir,
                     const char *const *sets, size_t nsets, int argc,
                     char **argv, bool quiet);

#endif /* TOPICFS_ADMIN_USERS_H */
