/*
 * records_entity.c - the entity of each row of an ObservationBatch
 * (mm/records.h): a decoded batch names its distinct entities once and gives
 * each row an index into them. The codec checks only the wire shape, so the
 * consumers (mm-trainer, mm-scorer) check the indices here before reading a
 * row's entity.
 *
 * Workload: once per consumed batch, a pass over its rows.
 */
#include <string.h>

#include "mm/records.h"

mm_err_t mm_observation_batch_entities_check(const mm_observation_batch_t *rec, char *errstr,
                                             size_t errstr_size) {
    if (rec->n_entity_of_row == 0) return MM_OK;
    if (rec->n_entity_of_row != rec->n_rows)
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                       "ObservationBatch.entity_of_row: %zu items, expected 0 or len(time_ms) %zu",
                       rec->n_entity_of_row, rec->n_rows);
    for (size_t e = 0; e < rec->n_entities; e++)
        if (!rec->entities[e] || !rec->entities[e][0])
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                           "ObservationBatch.entities[%zu]: an entity may not be empty", e);
    for (size_t i = 0; i < rec->n_rows; i++)
        if (rec->entity_of_row[i] < 0 || (size_t)rec->entity_of_row[i] >= rec->n_entities)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                           "ObservationBatch.entity_of_row[%zu]: index %d outside entities (%zu)",
                           i, (int)rec->entity_of_row[i], rec->n_entities);
    return MM_OK;
}

const char *mm_observation_batch_entity(const mm_observation_batch_t *rec, size_t i) {
    if (rec->n_entity_of_row == 0 || i >= rec->n_rows) return "";
    return rec->entities[rec->entity_of_row[i]];
}
