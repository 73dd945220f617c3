/* reader.h — what the two halves of the report reader share: reader.c (files, lines, tokens,
 * values) and records.c (one handler per record). Private to them; like them it must never depend
 * on libdw or jansson (the fuzz target links the reader alone). */
#ifndef FL_READER_H
#define FL_READER_H

#include "forkleak.h"

#define FL_MAX_FRAMES 1024 /* per stack; the shim caps depth at 64 */
#define FL_MAX_PID INT32_MAX

typedef struct fl_tok {
    const char *s; /* raw, not NUL-terminated */
    size_t len;
    size_t eq; /* offset of the first '=', or len */
} fl_tok_t;

typedef struct fl_parser {
    fl_report_t *r;
    unsigned long line;
    char *arena, *arena_end; /* decoded strings; never larger than the input */
    fl_tok_t *toks;
    size_t ntok, captok;
    char err[512];
    bool failed;
    fl_map_t stack_index; /* stack id -> index + 1 */
    fl_map_t module_ids;
    bool seen_process, seen_exit, seen_exe, seen_argv, seen_lineage, seen_summary, seen_cow_tot,
        seen_prefault;
} fl_parser_t;

/* ---- reader.c ---- */

/* Records the first failure of this file (later ones are consequences); returns false. */
bool fl_parse_fail(fl_parser_t *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A short, printable excerpt of raw bytes for a message, in BUF. */
const char *fl_parse_excerpt(const char *s, size_t n, char *buf, size_t cap);
/* The value of one hex digit, -1 for anything else. */
int fl_parse_hexval(char c);
/* Decodes a %-escaped string into the report's arena; NULL (and a failure) when malformed. */
const char *fl_parse_decode(fl_parser_t *p, const char *s, size_t n, const char *what);
/* The token KEY=… of the current line, NULL if absent; a second one is a failure. */
const fl_tok_t *fl_field_find(fl_parser_t *p, const char *key);
/* Number values (decimal or 0x hex) in [0, MAX]; false on failure. Absent: *OUT untouched. */
bool fl_field_u64(fl_parser_t *p, const char *key, bool required, uint64_t max, uint64_t *out);
/* A signed decimal value. */
bool fl_field_i64(fl_parser_t *p, const char *key, bool required, int64_t *out);
/* A non-negative decimal with an optional fraction (milliseconds); *PRESENT set if found. */
bool fl_field_dec(fl_parser_t *p, const char *key, double *out, bool *present);
/* A %-escaped string value. */
bool fl_field_str(fl_parser_t *p, const char *key, bool required, const char **out);
/* The index of the value among WORDS; -1 when absent or (with a failure) not one of them. */
int fl_field_word(fl_parser_t *p, const char *key, const char *const *words, size_t nwords,
                  bool required);

/* ---- records.c ---- */

/* Handles the record on the current line (tokens in p->toks); unknown records are ignored. */
bool fl_record_parse(fl_parser_t *p);
/* After the last line: points references at their stacks, sorts modules; false on a dangling
 * reference. */
bool fl_record_resolve(fl_parser_t *p);

#endif
