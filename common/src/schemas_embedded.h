/*
 * schemas_embedded.h - the schemas/ .avsc texts (current and retired) and
 * schemas/catalog.json, embedded at build time by cmake/embed_schemas.cmake
 * (internal to libmm; read by avro.c, avro_versions.c and schema_registry.c).
 */
#ifndef MM_SCHEMAS_EMBEDDED_H
#define MM_SCHEMAS_EMBEDDED_H

#include <stddef.h>

typedef struct mm__schema_file {
    const char *file; /* relative to schemas/: "ObservationBatch.avsc", "retired/X.3.avsc" */
    const char *text; /* NUL-terminated JSON */
    size_t len;       /* bytes, excluding the NUL */
} mm__schema_file_t;

extern const mm__schema_file_t mm__schema_files[];
extern const size_t mm__schema_file_count;

/* The .avsc files under schemas/retired: older versions readers still accept. */
extern const mm__schema_file_t mm__retired_schema_files[];
extern const size_t mm__retired_schema_file_count;

extern const char mm__schema_catalog[]; /* NUL-terminated JSON */
extern const size_t mm__schema_catalog_len;

#endif
