/*
 * fuzz_config.c - libFuzzer target for the configuration parser (fs/
 * config.c over inih; docs/TESTING.md R15): the input is an INI file, loaded
 * through a memfd with tfs_config_load and checked with tfs_config_finish;
 * its first line is also tried as a --set assignment.  Nothing may crash
 * or leak, and a refusal must come with a message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tfs_config cfg;
	char err[2048], path[64];
	int fd = memfd_create("fuzz.ini", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	tfs_config_init(&cfg);
	err[0] = '\0';
	if (tfs_config_load(&cfg, path, err, sizeof(err)) == 0) {
		err[0] = '\0';
		if (tfs_config_finish(&cfg, err, sizeof(err)) != 0 && !err[0])
			abort();
	} else if (!err[0]) {
		abort();
	}
	tfs_config_free(&cfg);
	close(fd);

	/* the first line as --set SECTION.KEY=VALUE */
	size_t n = 0;
	while (n < size && data[n] != '\n' && data[n] != '\0')
		n++;
	char *line = malloc(n + 1);
	if (!line)
		return 0;
	memcpy(line, data, n);
	line[n] = '\0';
	tfs_config_init(&cfg);
	err[0] = '\0';
	if (tfs_config_set(&cfg, line, err, sizeof(err)) != 0 && !err[0])
		abort();
	tfs_config_free(&cfg);
	free(line);
	return 0;
}
