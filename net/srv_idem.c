/*
 * srv_idem.c - the wire half of the idempotent producer (issue 12):
 * InitProducerId (API 22, v0-5, flexible from v2).
 *
 * A producer with enable.idempotence asks for a producer id and epoch, then
 * numbers its batches (ProducerId, ProducerEpoch, BaseSequence in the
 * RecordBatch header); storage checks them per partition and answers a
 * retried batch with its original offset (storage.h, "idempotent
 * producers"), Produce passes that on (srv_api.c).  Ids come from
 * store_init_producer_id: unique across restarts (reserved in durable
 * blocks, producer-id-block in the data dir), epoch 0; from v3 a producer
 * may send its id and epoch to bump the epoch (KIP-360), answered with the
 * same id and epoch + 1 when we handed out that epoch, else with a new id.
 *
 * Transactions are not served.  A request with a TransactionalId gets
 * TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53), what Kafka answers a
 * transactional producer it does not allow: it is fatal (not retried) in
 * librdkafka and the Java client, so the application fails at once with
 * an error naming the transactional id, instead of retrying a coordinator
 * that will never come.  (Clients normally look the transaction
 * coordinator up first, which FindCoordinator answers
 * COORDINATOR_NOT_AVAILABLE, so they time out before they get here.)
 * Logged once per connection.
 *
 * Request: STRING TransactionalId (nullable), int32 TransactionTimeoutMs,
 * v3+ int64 ProducerId (-1), int16 ProducerEpoch (-1), v2+ TAG_BUFFER.
 * Response: int32 ThrottleTimeMs 0, int16 ErrorCode, int64 ProducerId,
 * int16 ProducerEpoch, v2+ TAG_BUFFER.
 *
 * Thread-safety: server thread only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "srv_internal.h"

enum srv_verdict srv_api_init_producer_id(struct srv *s, const struct srv_req *req,
                                          struct srv_resp *resp, int *park_ms,
                                          char *why, size_t why_len)
{
	int v = req->api_version;
	bool flex = req->flexible;
	struct kw_reader r;
	struct kw_writer *w = &resp->w;
	const char *txn;
	int txn_len;
	int64_t pid = -1;
	int16_t epoch = -1;
	(void)park_ms;

	kw_reader_init(&r, req->body, req->body_len);
	kw_vstr(&r, flex, &txn, &txn_len);          /* TransactionalId */
	kw_i32(&r);                                 /* TransactionTimeoutMs */
	if (v >= 3) {
		pid = kw_i64(&r);
		epoch = kw_i16(&r);
	}
	kw_vtags(&r, flex);
	if (r.err) {
		snprintf(why, why_len, "malformed initproducerid v%d request", v);
		return SRV_CLOSE;
	}

	int16_t err = KERR_NONE;
	int64_t out_id = -1;
	int16_t out_epoch = -1;
	if (txn_len >= 0) {
		err = KERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
		if (!req->client || !req->client->txn_refusal_logged) {
			char tid[80], cid[80];
			srv_sanitize(tid, sizeof tid, txn, txn_len);
			srv_sanitize(cid, sizeof cid, req->client_id, req->client_id_len);
			srv_log(s, "initproducerid: transactional id \"%s\" refused "
			        "(TRANSACTIONAL_ID_AUTHORIZATION_FAILED): topicfs has "
			        "no transactions; idempotent producers work without "
			        "transactional.id (client \"%s\"%s%s%s%s)", tid, cid,
			        req->client && req->client->software_name[0]
			                ? ", software " : "",
			        req->client ? req->client->software_name : "",
			        req->client && req->client->software_name[0] ? " " : "",
			        req->client ? req->client->software_version : "");
			if (req->client)
				req->client->txn_refusal_logged = true;
		}
	} else if (!srv_authorize_idempotent(s, req)) {             /* ACL */
		err = KERR_CLUSTER_AUTHORIZATION_FAILED;
	} else {
		int rc = store_init_producer_id(s->st, pid, epoch, &out_id, &out_epoch);
		if (rc) {
			srv_log(s, "initproducerid: cannot allocate a producer id: %s",
			        strerror(-rc));
			err = KERR_KAFKA_STORAGE_ERROR;
			out_id = -1;
			out_epoch = -1;
		}
	}

	srv_resp_begin_req(resp, req);
	kw_put_i32(w, 0);                           /* ThrottleTimeMs */
	kw_put_i16(w, err);
	kw_put_i64(w, out_id);
	kw_put_i16(w, out_epoch);
	kw_put_vtags(w, flex);
	return SRV_RESPOND;
}
