/*
 * avro_utf8.c - the UTF-8 check applied to every Avro string, both ways: the
 * encoder refuses to write a string other readers would reject, the decoder
 * refuses to hand one to the services. The check itself is mm_utf8_valid()
 * (util.h), shared with mm-ingest's check of key cells.
 *
 * Workload: short strings (keys, ids, names), a few per record; ASCII takes
 * the one-comparison path.
 */
#include "avro_int.h"
#include "mm/util.h"

bool mm_avro__utf8_valid(const uint8_t *s, size_t n, size_t *bad) {
    return mm_utf8_valid(s, n, bad);
}
