/*
 * kafka_common.c - what every Kafka handle of libmm shares (see kafka_int.h):
 * librdkafka's log and error callbacks routed to mm_log, configuration with
 * our defaults under the pass-through properties, handle creation, topic
 * metadata, the one poll loop of the group consumer and the reader, and the
 * resolution of the bootstrap servers.
 *
 * Workload: called when a handle is created and once per consumed message;
 * the poll loop does no allocation of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka_int.h"
#include "mm/buf.h"
#include "mm/fs.h"
#include "mm/log.h"
#include "mm/util.h"

/*
 * librdkafka logs with syslog levels (0 emerg .. 7 debug).
 * @locality librdkafka's internal threads: mm_log is thread-safe.
 */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    mm_log_level_t mm_level = level <= 3   ? MM_LOG_ERROR
                              : level == 4 ? MM_LOG_WARN
                              : level <= 6 ? MM_LOG_INFO
                                           : MM_LOG_DEBUG;
    /* One MM_KAFKA_* environment serves a service's producer and consumer
     * alike, so "consumer property ignored by this producer" is expected. */
    if (strcmp(fac, "CONFWARN") == 0 && strstr(buf, "will be ignored by this"))
        mm_level = MM_LOG_DEBUG;
    if (!mm_log_enabled(mm_level)) return;
    mm_logj(mm_level, "kafka_client_log",
            json_pack("{s:s, s:s, s:i}", "client", rd_kafka_name(rk), "facility", fac,
                      "syslog_level", level),
            "%s", buf);
}

/* @locality the thread polling the handle. */
static void kafka_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[KAFKA_ERRSTR_MAX];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        mm_logj(
            MM_LOG_ERROR, "kafka_fatal_error",
            json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "code", rd_kafka_err2name(orig)),
            "fatal Kafka client error: %s", fatal);
        return;
    }
    /* Broker connection loss and similar are retried by librdkafka: a warning, not an error. */
    mm_logj(MM_LOG_WARN, "kafka_client_error",
            json_pack("{s:s, s:s}", "client", rd_kafka_name(rk), "code",
                      rd_kafka_err2name((rd_kafka_resp_err_t)err)),
            "%s", reason);
}

mm_err_t mm_kafka__conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                            size_t errstr_size) {
    char why[KAFKA_ERRSTR_MAX];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "Kafka property %s: %s", key, why);
    return MM_OK;
}

/* Build a configuration: our defaults, then the pass-through properties (which win). */
rd_kafka_conf_t *mm_kafka__conf_build(const char *bootstrap, const char *const defaults[][2],
                                      size_t n_defaults, const mm_kv_list_t *props, void *opaque,
                                      char *errstr, size_t errstr_size) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) {
        mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "rd_kafka_conf_new failed");
        return NULL;
    }
    if (!bootstrap || !*bootstrap) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "no Kafka bootstrap servers given");
        goto fail;
    }
    if (mm_kafka__conf_set(conf, "bootstrap.servers", bootstrap, errstr, errstr_size) != MM_OK)
        goto fail;
    for (size_t i = 0; i < n_defaults; i++)
        if (mm_kafka__conf_set(conf, defaults[i][0], defaults[i][1], errstr, errstr_size) != MM_OK)
            goto fail;
    if (props) {
        for (size_t i = 0; i < props->n; i++) {
            if (!props->items[i].key || !props->items[i].value) continue;
            if (mm_kafka__conf_set(conf, props->items[i].key, props->items[i].value, errstr,
                                   errstr_size) != MM_OK)
                goto fail;
        }
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_error_cb(conf, kafka_error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Take ownership of @p conf in every case. */
rd_kafka_t *mm_kafka__new(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *errstr,
                          size_t errstr_size) {
    char why[KAFKA_ERRSTR_MAX];
    rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof(why));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "creating Kafka %s: %s",
                type == RD_KAFKA_PRODUCER ? "producer" : "consumer", why);
        return NULL;
    }
    return rk; /* conf is now owned by rk */
}

static void msg_fill(const rd_kafka_message_t *rkm, mm_kafka_msg_t *msg) {
    rd_kafka_timestamp_type_t tstype;
    msg->topic = mm_kafka_topic_logical(rd_kafka_topic_name(rkm->rkt));
    msg->partition = rkm->partition;
    msg->offset = rkm->offset;
    msg->key = rkm->key;
    msg->key_len = rkm->key_len;
    msg->value = rkm->payload;
    msg->value_len = rkm->len;
    msg->timestamp_ms = rd_kafka_message_timestamp(rkm, &tstype);
}

/* Describe a consumed error event; @returns the mm code for it. */
static mm_err_t msg_error(rd_kafka_t *rk, const rd_kafka_message_t *rkm, char *errstr,
                          size_t errstr_size) {
    if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
        /* Consumer fatal errors (a fenced static member) come from configuration. */
        char fatal[KAFKA_ERRSTR_MAX];
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        return mm_errf(MM_ERR_CONFIG, errstr, errstr_size, "fatal Kafka consumer error: %s", fatal);
    }
    const char *topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : NULL;
    /* auto.offset.reset=error: the partition stays stopped until an operator acts. */
    bool stopped = rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET;
    mm_kafka__count_consumer_error(topic ? mm_kafka_topic_logical(topic) : NULL,
                                   rd_kafka_err2name(rkm->err), stopped);
    if (stopped)
        mm_logj(MM_LOG_ERROR, "kafka_partition_stopped",
                json_pack("{s:s, s:s, s:i, s:I, s:s}", "client", rd_kafka_name(rk), "topic",
                          topic ? topic : "", "partition", (int)rkm->partition, "offset",
                          (json_int_t)rkm->offset, "cause", rd_kafka_message_errstr(rkm)),
                "consumer stopped %s [%" PRId32 "] at offset %" PRId64
                ": %s; nothing more is read from it until its offset is reset "
                "(docs/operations.md)",
                topic ? topic : "?", rkm->partition, rkm->offset, rd_kafka_message_errstr(rkm));
    if (rkm->rkt)
        return mm_errf(MM_ERR_KAFKA, errstr, errstr_size,
                       "%s [%" PRId32 "] at offset %" PRId64 ": %s: %s",
                       rd_kafka_topic_name(rkm->rkt), rkm->partition, rkm->offset,
                       rd_kafka_err2name(rkm->err), rd_kafka_message_errstr(rkm));
    return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "consumer: %s: %s",
                   rd_kafka_err2name(rkm->err), rd_kafka_message_errstr(rkm));
}

int mm_kafka__remaining_ms(int64_t deadline) {
    int64_t left = deadline - mm_mono_ms();
    if (left <= 0) return 0;
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

/*
 * Partition count of @p topic from a listing of all topics: asking for one
 * topic by name would make brokers with auto-creation (the dev broker always)
 * create it with their defaults. Waits up to @p wait_ms for it to appear.
 */
mm_err_t mm_kafka__topic_partition_count(rd_kafka_t *rk, const char *topic, int wait_ms,
                                         int32_t *count, char *errstr, size_t errstr_size) {
    int64_t deadline = mm_mono_ms() + wait_ms;
    for (int attempt = 0;; attempt++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_REQUEST_TIMEOUT_MS);
        int32_t found = -1;
        if (!err) {
            for (int i = 0; i < md->topic_cnt; i++) {
                if (strcmp(md->topics[i].topic, topic) != 0) continue;
                if (!md->topics[i].err)
                    found = md->topics[i].partition_cnt;
                else
                    err = md->topics[i].err;
                break;
            }
        }
        if (md) rd_kafka_metadata_destroy(md);
        if (found > 0) {
            *count = found;
            return MM_OK;
        }
        if (mm_kafka__remaining_ms(deadline) == 0) {
            if (err)
                return mm_errf(MM_ERR_KAFKA, errstr, errstr_size, "metadata for topic %s: %s",
                               topic, rd_kafka_err2str(err));
            return mm_errf(MM_ERR_NOT_FOUND, errstr, errstr_size, "topic %s does not exist", topic);
        }
        /* A topic created a moment ago may not be in every broker's metadata yet. */
        int pause =
            (int)mm_backoff_ms(attempt, KAFKA_TOPIC_APPEAR_BASE_MS, KAFKA_TOPIC_APPEAR_CAP_MS);
        int left = mm_kafka__remaining_ms(deadline);
        mm_sleep_ms(pause < left ? pause : left, NULL);
    }
}

mm_err_t mm_kafka__poll(rd_kafka_t *rk, rd_kafka_message_t **held, int timeout_ms,
                        const mm_kafka__poll_hooks_t *hooks, mm_kafka_msg_t *msg, char *errstr,
                        size_t errstr_size) {
    if (*held) {
        rd_kafka_message_destroy(*held);
        *held = NULL;
    }
    int64_t deadline = mm_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, mm_kafka__remaining_ms(deadline));
        if (!rkm) return MM_ERR_TIMEOUT;
        if (!rkm->err) {
            if (hooks && hooks->on_message) hooks->on_message(hooks->opaque, rkm->partition);
            *held = rkm;
            msg_fill(rkm, msg);
            return MM_OK;
        }
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* Without an on_eof hook, only seen if a caller enabled
             * enable.partition.eof: not an error here. */
            bool stop = hooks && hooks->on_eof &&
                        hooks->on_eof(hooks->opaque, rkm->partition, errstr, errstr_size);
            rd_kafka_message_destroy(rkm);
            if (stop) return MM_ERR_NOT_FOUND;
            if (mm_kafka__remaining_ms(deadline) == 0) return MM_ERR_TIMEOUT;
            continue;
        }
        mm_err_t rc = msg_error(rk, rkm, errstr, errstr_size);
        rd_kafka_message_destroy(rkm);
        return rc;
    }
}

/* ------------------------------------------------------------ bootstrap */

static char *first_line(const char *text, size_t len) {
    size_t start = 0;
    while (start < len && (text[start] == ' ' || text[start] == '\t')) start++;
    size_t end = start;
    while (end < len && text[end] != '\n' && text[end] != '\r') end++;
    while (end > start && (text[end - 1] == ' ' || text[end - 1] == '\t')) end--;
    return mm_strndup(text + start, end - start);
}

char *mm_kafka_resolve_bootstrap(const char *servers, const char *servers_file, int wait_ms,
                                 char *errstr, size_t errstr_size) {
    if (servers && *servers) {
        char *copy = strdup(servers);
        if (!copy) mm_errf(MM_ERR_NOMEM, errstr, errstr_size, "out of memory");
        return copy;
    }
    if (!servers_file || !*servers_file) {
        mm_errf(MM_ERR_CONFIG, errstr, errstr_size,
                "no Kafka bootstrap servers: set the servers or a bootstrap file");
        return NULL;
    }
    int64_t deadline = mm_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    for (;;) {
        if (access(servers_file, F_OK) == 0) {
            mm_buf_t text;
            mm_buf_init(&text, KAFKA_BOOTSTRAP_FILE_MAX);
            char why[256];
            mm_err_t rc = mm_file_read(servers_file, &text, why, sizeof(why));
            char *line = NULL;
            if (rc == MM_OK && text.len > 0) {
                line = first_line((const char *)text.data, text.len);
                if (line && !*line) {
                    free(line);
                    line = NULL;
                }
            }
            mm_buf_free(&text);
            if (line) return line;
            /* Present but empty: the writer is not done (or wrote nothing); keep waiting. */
            if (rc != MM_OK && mm_kafka__remaining_ms(deadline) == 0) {
                mm_errf(rc, errstr, errstr_size, "bootstrap file %s: %s", servers_file, why);
                return NULL;
            }
        }
        int left = mm_kafka__remaining_ms(deadline);
        if (left == 0) break;
        mm_sleep_ms(left < KAFKA_BOOTSTRAP_CHECK_MS ? left : KAFKA_BOOTSTRAP_CHECK_MS, NULL);
    }
    mm_errf(MM_ERR_TIMEOUT, errstr, errstr_size,
            "bootstrap file %s did not appear (or stayed empty) within %d ms", servers_file,
            wait_ms);
    return NULL;
}
