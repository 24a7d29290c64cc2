/* Temporary placeholder so the daemon links while net/ is being written.
 * The net/ work replaces this file and net/CMakeLists.txt entirely. */
#include <errno.h>
#include <string.h>
#include "net.h"
void srv_config_defaults(struct srv_config *cfg) { memset(cfg, 0, sizeof *cfg); }
int srv_start(struct store *st, const struct srv_config *cfg, struct srv **out) { return -ENOSYS; }
int srv_port(const struct srv *s) { return 0; }
void srv_stop(struct srv *s) { }
