/*
 * csv.c - streaming RFC 4180 reader (see csv.h for the accepted dialect).
 *
 * Tuned for tens of millions of short numeric rows: input is read in 1 MiB
 * chunks into one buffer that only ever holds the current record plus the
 * read-ahead, unquoted runs are scanned with a class table and copied with
 * one memcpy, and fields land in a fixed side buffer (so the raw record text
 * stays intact for dead letters). Nothing is allocated per record or field.
 * A record without quotes or CR whose line end is already in the buffer (by
 * far the most common) is read in one tight pass before the state machine.
 *
 * The parser is a resumable state machine: when it runs out of bytes
 * mid-record it compacts the buffer (moving the partial record to the front),
 * refills, and continues where it stopped. An over-long record is not kept:
 * its first MM_CSV_RAW_KEEP_BYTES are saved and the rest is scanned and
 * dropped, so memory stays bounded whatever the input.
 */
#include "mm/csv.h"

#include <stdlib.h>
#include <string.h>

#define CSV_CHUNK_BYTES (1u << 20)
#define CSV_BUF_BYTES   (MM_CSV_MAX_RECORD_BYTES + CSV_CHUNK_BYTES)
/* field text plus one NUL per field */
#define CSV_FIELD_BYTES (MM_CSV_MAX_RECORD_BYTES + MM_CSV_MAX_FIELDS + 1)

typedef enum csv_state {
    ST_FIELD_START = 0, /* at the first byte of a field */
    ST_UNQUOTED,        /* inside an unquoted field */
    ST_QUOTED,          /* inside a quoted field */
    ST_QUOTE,           /* saw a quote inside a quoted field: escape or closing quote */
    ST_CR,              /* saw CR outside quotes: must be followed by LF */
    ST_RESYNC,          /* malformed record: skipping to the next LF */
} csv_state_t;

/* Byte classes for the fast scans: which bytes stop an unquoted / quoted run. */
#define CLS_STOP_UNQUOTED 1
#define CLS_STOP_QUOTED   2

struct mm_csv_reader {
    FILE *file; /* borrowed */
    char *name;
    char *buf;  /* CSV_BUF_BYTES: the current record and read-ahead */
    size_t len; /* valid bytes in buf */
    size_t pos; /* next byte to parse */
    bool eof;
    bool io_error;
    bool started; /* BOM check done */
    int64_t line; /* physical line of buf[pos] */

    char *fbuf; /* CSV_FIELD_BYTES: unescaped, NUL-terminated fields */

    /* state of the record being parsed (survives refills) */
    csv_state_t state;
    size_t rec_start; /* offset of the record's first byte in buf */
    int64_t rec_line;
    size_t n_fields;
    size_t field_start; /* offset in fbuf of the current field */
    size_t flen;        /* bytes used in fbuf */
    bool too_long;
    bool too_many;
    const char *error; /* first structural error of the record, static text */
    char *keep;        /* MM_CSV_RAW_KEEP_BYTES: start of an over-long record */
    size_t keep_len;
    size_t dropped; /* bytes of an over-long record already dropped */
};

static unsigned char csv_class[256];
static bool csv_class_ready;

static void csv_class_init(void) {
    /* Idempotent and writes the same values, so a race on first use is benign. */
    if (csv_class_ready) return;
    csv_class[(unsigned char)','] |= CLS_STOP_UNQUOTED;
    csv_class[(unsigned char)'\n'] |= CLS_STOP_UNQUOTED | CLS_STOP_QUOTED;
    csv_class[(unsigned char)'\r'] |= CLS_STOP_UNQUOTED;
    csv_class[(unsigned char)'"'] |= CLS_STOP_UNQUOTED | CLS_STOP_QUOTED;
    csv_class_ready = true;
}

mm_csv_reader_t *mm_csv_reader_new(FILE *file, const char *source_name) {
    if (!file) return NULL;
    csv_class_init();
    mm_csv_reader_t *reader = calloc(1, sizeof(*reader));
    if (!reader) return NULL;
    reader->file = file;
    reader->name = strdup(source_name ? source_name : "-");
    reader->buf = malloc(CSV_BUF_BYTES);
    reader->fbuf = malloc(CSV_FIELD_BYTES);
    reader->keep = malloc(MM_CSV_RAW_KEEP_BYTES);
    if (!reader->name || !reader->buf || !reader->fbuf || !reader->keep) {
        mm_csv_reader_destroy(reader);
        return NULL;
    }
    reader->line = 1;
    return reader;
}

void mm_csv_reader_destroy(mm_csv_reader_t *reader) {
    if (!reader) return;
    free(reader->name);
    free(reader->buf);
    free(reader->fbuf);
    free(reader->keep);
    free(reader);
}

int64_t mm_csv_lines(const mm_csv_reader_t *reader) {
    return reader ? reader->line - 1 : 0;
}

/* Read more input after the current record's bytes. */
static void csv_fill(mm_csv_reader_t *reader) {
    if (reader->eof) return;
    if (reader->too_long) {
        /* Over-long record: save its head once, then drop what was scanned. */
        size_t have = reader->pos - reader->rec_start;
        if (reader->dropped == 0) {
            size_t n = have < MM_CSV_RAW_KEEP_BYTES ? have : MM_CSV_RAW_KEEP_BYTES;
            memcpy(reader->keep, reader->buf + reader->rec_start, n);
            reader->keep_len = n;
        }
        reader->dropped += have;
        reader->rec_start = reader->pos;
    }
    if (reader->rec_start > 0) {
        size_t keep = reader->len - reader->rec_start;
        memmove(reader->buf, reader->buf + reader->rec_start, keep);
        reader->pos -= reader->rec_start;
        reader->len = keep;
        reader->rec_start = 0;
    }
    size_t room = CSV_BUF_BYTES - reader->len;
    if (room == 0) return; /* cannot happen: a full buffer means too_long was set */
    size_t n = fread(reader->buf + reader->len, 1, room, reader->file);
    reader->len += n;
    if (n < room) {
        if (ferror(reader->file)) reader->io_error = true;
        reader->eof = true;
    }
}

static void csv_record_reset(mm_csv_reader_t *reader) {
    reader->state = ST_FIELD_START;
    reader->rec_start = reader->pos;
    reader->rec_line = reader->line;
    reader->n_fields = 0;
    reader->field_start = 0;
    reader->flen = 0;
    reader->too_long = false;
    reader->too_many = false;
    reader->error = NULL;
    reader->keep_len = 0;
    reader->dropped = 0;
}

static inline void csv_put(mm_csv_reader_t *reader, const char *src, size_t n) {
    if (reader->too_long || reader->too_many) return;
    if (n > CSV_FIELD_BYTES - 1 - reader->flen) {
        reader->too_long = true;
        return;
    }
    memcpy(reader->fbuf + reader->flen, src, n);
    reader->flen += n;
}

static inline void csv_end_field(mm_csv_reader_t *reader, mm_csv_record_t *rec) {
    if (reader->too_long || reader->too_many) return;
    if (reader->n_fields >= MM_CSV_MAX_FIELDS) {
        reader->too_many = true;
        return;
    }
    if (reader->flen >= CSV_FIELD_BYTES) {
        reader->too_long = true;
        return;
    }
    reader->fbuf[reader->flen] = 0;
    rec->fields[reader->n_fields] = reader->fbuf + reader->field_start;
    rec->lens[reader->n_fields] = reader->flen - reader->field_start;
    reader->n_fields++;
    reader->flen++;
    reader->field_start = reader->flen;
}

static inline void csv_error(mm_csv_reader_t *reader, const char *why) {
    if (!reader->error) reader->error = why;
    reader->state = ST_RESYNC;
}

/*
 * Finish the record that ends before @p end (exclusive of the line end).
 */
static mm_err_t csv_emit(mm_csv_reader_t *reader, mm_csv_record_t *rec, size_t end, char *errstr,
                         size_t errstr_size) {
    size_t raw_len = end - reader->rec_start;
    rec->line = reader->rec_line;
    if (reader->dropped > 0 || raw_len + reader->dropped > MM_CSV_MAX_RECORD_BYTES)
        reader->too_long = true;
    if (reader->too_long && reader->dropped > 0) {
        rec->raw = reader->keep;
        rec->raw_len = reader->keep_len;
    } else {
        rec->raw = reader->buf + reader->rec_start;
        rec->raw_len = raw_len;
        if (reader->too_long && rec->raw_len > MM_CSV_RAW_KEEP_BYTES)
            rec->raw_len = MM_CSV_RAW_KEEP_BYTES;
    }
    if (reader->error || reader->too_long || reader->too_many) {
        rec->n_fields = 0;
        if (reader->error)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s:%lld: %s", reader->name,
                           (long long)rec->line, reader->error);
        if (reader->too_long)
            return mm_errf(MM_ERR_PARSE, errstr, errstr_size,
                           "%s:%lld: record longer than %u bytes", reader->name,
                           (long long)rec->line, (unsigned)MM_CSV_MAX_RECORD_BYTES);
        return mm_errf(MM_ERR_PARSE, errstr, errstr_size, "%s:%lld: more than %d fields",
                       reader->name, (long long)rec->line, MM_CSV_MAX_FIELDS);
    }
    rec->n_fields = reader->n_fields;
    return MM_OK;
}

/*
 * The common record in one pass: unquoted fields, no CR, its LF already in
 * the buffer, within the size and field limits. Fields are copied byte by
 * byte into fbuf exactly as the state machine below would place them. Any
 * other record (quotes, CRLF, blank line, a line end not yet read, a bound
 * reached) returns false having changed nothing but fbuf and rec->fields,
 * and the state machine reads it from its first byte.
 */
static bool csv_simple_record(mm_csv_reader_t *reader, mm_csv_record_t *rec) {
    const char *start = reader->buf + reader->pos;
    size_t avail = reader->len - reader->pos;
    /* A record may have MM_CSV_MAX_RECORD_BYTES bytes: its LF is at most that far. */
    const char *end =
        start + (avail > MM_CSV_MAX_RECORD_BYTES ? MM_CSV_MAX_RECORD_BYTES + 1 : avail);
    if (start == end || *start == '\n') return false;
    char *field = reader->fbuf, *out = field;
    size_t n = 0;
    for (const char *p = start; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (!csv_class[c]) {
            *out++ = (char)c;
            continue;
        }
        if (c != ',' && c != '\n') return false; /* a quote or a CR */
        if (n >= MM_CSV_MAX_FIELDS) return false;
        *out = 0;
        rec->fields[n] = field;
        rec->lens[n] = (size_t)(out - field);
        n++;
        field = ++out;
        if (c == ',') continue;
        rec->n_fields = n;
        rec->line = reader->line;
        rec->raw = start;
        rec->raw_len = (size_t)(p - start);
        reader->pos += (size_t)(p - start) + 1;
        reader->line++;
        return true;
    }
    return false;
}

mm_err_t mm_csv_next(mm_csv_reader_t *reader, mm_csv_record_t *rec, char *errstr,
                     size_t errstr_size) {
    if (!reader || !rec)
        return mm_errf(MM_ERR_INVALID_ARG, errstr, errstr_size, "csv: NULL argument");
    rec->n_fields = 0;
    rec->raw = NULL;
    rec->raw_len = 0;

    if (!reader->started) {
        reader->started = true;
        while (reader->len < 3 && !reader->eof) csv_fill(reader);
        if (reader->len >= 3 && memcmp(reader->buf, "\xEF\xBB\xBF", 3) == 0) reader->pos = 3;
    }

    if (csv_simple_record(reader, rec)) return MM_OK;
    rec->n_fields = 0;
    csv_record_reset(reader);
    for (;;) {
        if (reader->pos >= reader->len) {
            if (!reader->eof) {
                if (reader->pos - reader->rec_start > MM_CSV_MAX_RECORD_BYTES)
                    reader->too_long = true;
                csv_fill(reader);
                continue;
            }
            /* end of input */
            if (reader->io_error)
                return mm_errf(MM_ERR_IO, errstr, errstr_size, "%s:%lld: read error", reader->name,
                               (long long)reader->line);
            if (reader->n_fields == 0 && reader->dropped == 0 &&
                ((reader->state == ST_FIELD_START && reader->pos == reader->rec_start) ||
                 (reader->state == ST_CR && reader->pos == reader->rec_start + 1)))
                return MM_ERR_NOT_FOUND; /* nothing, or a last blank line ended by a lone CR */
            if (reader->state == ST_QUOTED) {
                reader->error = "unterminated quoted field";
            } else if (reader->state != ST_RESYNC) {
                csv_end_field(reader, rec);
            }
            size_t end = reader->len;
            if (reader->state == ST_CR) end--; /* a CR at EOF is a line end */
            return csv_emit(reader, rec, end, errstr, errstr_size);
        }

        const char *buf = reader->buf;
        size_t pos = reader->pos;
        char c = buf[pos];
        switch (reader->state) {
        case ST_FIELD_START:
            if (c == '"') {
                reader->state = ST_QUOTED;
                reader->pos = pos + 1;
                break;
            }
            /* the byte is part of (or ends) an unquoted field */
            reader->state = ST_UNQUOTED;
            /* fall through */
        case ST_UNQUOTED: {
            size_t start = pos;
            size_t len = reader->len;
            while (pos < len && !(csv_class[(unsigned char)buf[pos]] & CLS_STOP_UNQUOTED)) pos++;
            csv_put(reader, buf + start, pos - start);
            reader->pos = pos;
            if (pos >= len) break;
            c = buf[pos];
            if (c == ',') {
                csv_end_field(reader, rec);
                reader->state = ST_FIELD_START;
                reader->pos = pos + 1;
            } else if (c == '\n') {
                if (reader->n_fields == 0 && pos == reader->rec_start) {
                    /* blank line: not a record */
                    reader->pos = pos + 1;
                    reader->line++;
                    csv_record_reset(reader);
                    break;
                }
                csv_end_field(reader, rec);
                reader->pos = pos + 1;
                reader->line++;
                return csv_emit(reader, rec, pos, errstr, errstr_size);
            } else if (c == '\r') {
                reader->state = ST_CR;
                reader->pos = pos + 1;
            } else { /* '"' */
                csv_error(reader, "quote inside an unquoted field");
            }
            break;
        }
        case ST_QUOTED: {
            size_t start = pos;
            size_t len = reader->len;
            while (pos < len && !(csv_class[(unsigned char)buf[pos]] & CLS_STOP_QUOTED)) pos++;
            csv_put(reader, buf + start, pos - start);
            reader->pos = pos;
            if (pos >= len) break;
            if (buf[pos] == '\n') {
                csv_put(reader, "\n", 1);
                reader->line++;
            } else {
                reader->state = ST_QUOTE;
            }
            reader->pos = pos + 1;
            break;
        }
        case ST_QUOTE:
            if (c == '"') {
                csv_put(reader, "\"", 1);
                reader->state = ST_QUOTED;
                reader->pos = pos + 1;
            } else if (c == ',') {
                csv_end_field(reader, rec);
                reader->state = ST_FIELD_START;
                reader->pos = pos + 1;
            } else if (c == '\n') {
                csv_end_field(reader, rec);
                reader->pos = pos + 1;
                reader->line++;
                return csv_emit(reader, rec, pos, errstr, errstr_size);
            } else if (c == '\r') {
                reader->state = ST_CR;
                reader->pos = pos + 1;
            } else {
                csv_error(reader, "unexpected character after a closing quote");
            }
            break;
        case ST_CR:
            if (c == '\n') {
                if (reader->n_fields == 0 && pos - 1 == reader->rec_start) {
                    reader->pos = pos + 1;
                    reader->line++;
                    csv_record_reset(reader);
                    break;
                }
                csv_end_field(reader, rec);
                reader->pos = pos + 1;
                reader->line++;
                return csv_emit(reader, rec, pos - 1, errstr, errstr_size);
            }
            csv_error(reader, "bare CR outside quotes (line ends must be LF or CRLF)");
            break;
        case ST_RESYNC: {
            size_t len = reader->len;
            const char *nl = memchr(buf + pos, '\n', len - pos);
            if (!nl) {
                reader->pos = len;
                break;
            }
            size_t at = (size_t)(nl - buf);
            reader->pos = at + 1;
            reader->line++;
            size_t end = at;
            if (end > reader->rec_start && buf[end - 1] == '\r') end--;
            return csv_emit(reader, rec, end, errstr, errstr_size);
        }
        }
    }
}
