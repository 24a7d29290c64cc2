/*
 * fuzz_request.c - libFuzzer target for the Kafka request handlers
 * (docs/TESTING.md R11): the input is api key (int16), api version (int16),
 * then the request body, handed to srv_api_dispatch exactly as the server
 * core does after reading the request header.  Behind it is a real store
 * in a temp directory with two topics holding a few records (lines and
 * writes framing, one lz4), so Fetch builds real file slices, ListOffsets
 * decodes real batches and Produce really appends (valid batches the
 * fuzzer finds land in the log; topic auto-creation stays off so the data
 * dir does not fill with names).  Any verdict is fine; a crash, a leak, an
 * ASan/UBSan report or a response that does not frame is not.
 */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage.h"
#include "srv_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *g_st;
static struct srv *g_srv;
static struct srv_resp g_resp;
static char g_dir[] = "/tmp/fuzz_request.XXXXXX";

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* At exit: close the store and remove its directory. */
static void cleanup(void)
{
	if (g_st)
		store_close(g_st);
	g_st = NULL;
	nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static void seed_topic(const char *name, int framing, int codec, int n)
{
	struct topic_config c;
	struct topic *t;
	topic_config_defaults(&c);
	c.partitions = 2;
	c.framing = framing;
	c.codec = codec;
	c.retention_ms = -1;
	c.segment_bytes = 4096;
	c.max_message_bytes = 64 << 10;
	if (store_topic_create(g_st, name, &c, &t) != 0)
		abort();
	for (int i = 0; i < n; i++) {
		char v[64];
		int len = snprintf(v, sizeof(v), "record %d of %s", i, name);
		struct rec_in r = { .key = "k", .key_len = i % 2 ? 1 : -1, .value = v,
		                    .value_len = len, .timestamp = 1700000000000LL + i };
		part_append(topic_part(t, 0), &r, 1, NULL);
	}
	topic_put(t);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct store_options o = { 0 };
	(void)argc;
	(void)argv;
	if (!mkdtemp(g_dir))
		abort();
	o.data_dir = g_dir;
	if (store_open(&o, &g_st) != 0)
		abort();
	atexit(cleanup);
	seed_topic("t", FRAMING_LINES, CODEC_NONE, 40);
	seed_topic("w", FRAMING_WRITES, CODEC_LZ4, 25);
	g_srv = calloc(1, sizeof(*g_srv));
	if (!g_srv)
		abort();
	g_srv->st = g_st;
	srv_config_defaults(&g_srv->cfg);
	g_srv->cfg.auto_create_topics = false;
	/* the admin APIs: at most two topics created, none larger than 8
	 * partitions (each partition is a directory); deletion stays off */
	g_srv->cfg.auto_create_max_topics = 4;
	g_srv->admin_max_partitions = 8;
	snprintf(g_srv->adv_host, sizeof(g_srv->adv_host), "127.0.0.1");
	g_srv->adv_port = 9092;
	g_srv->port = 9092;
	g_srv->listen_fd = g_srv->epoll_fd = g_srv->wake_fd = -1;
	g_srv->log_count = 1 << 30;         /* keep srv_log quiet */
	g_srv->log_window_ms = INT64_MAX / 2;
	srv_resp_init(&g_resp);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct srv_req req = { 0 };
	char why[160];
	int park_ms = 0;

	if (size < 4)
		return 0;
	req.api_key = (int16_t)(data[0] << 8 | data[1]);
	req.api_version = (int16_t)(data[2] << 8 | data[3]);
	req.correlation_id = 7;
	req.client_id = "fuzz";
	req.client_id_len = 4;
	/* a heap copy of exactly the body, so ASan sees any over-read */
	uint8_t *body = malloc(size - 4 + 1);
	if (!body)
		return 0;
	memcpy(body, data + 4, size - 4);
	req.body = body;
	req.body_len = size - 4;
	why[0] = '\0';
	/* as the core does: a flexible version's header tag buffer first */
	if (!srv_req_header_finish(&req)) {
		free(body);
		return 0;
	}
	enum srv_verdict v = srv_api_dispatch(g_srv, &req, &g_resp, &park_ms, why,
	                                      sizeof(why));
	switch (v) {
	case SRV_RESPOND: {
		/* the size prefix frames exactly what would go on the wire */
		int64_t wire = srv_resp_wire_bytes(&g_resp);
		if (g_resp.w.len < 8)
			abort();
		int32_t framed = (int32_t)be32_get(g_resp.w.buf);
		if ((int64_t)framed + 4 != wire)
			abort();
		break;
	}
	case SRV_PARK:
		/* the deadline passes: rebuild it as the core would */
		if (req.api_key == KAPI_FETCH &&
		    srv_api_fetch(g_srv, &req, &g_resp, true, &park_ms, why,
		                  sizeof(why)) == SRV_PARK)
			abort();
		break;
	case SRV_CLOSE:
		if (!why[0])
			abort();
		break;
	case SRV_SILENT:
		break;
	}
	srv_resp_reset(&g_resp);
	free(body);
	return 0;
}
