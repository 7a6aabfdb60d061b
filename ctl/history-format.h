/* SPDX-License-Identifier: MIT */
#pragma once

/* The pure parts of `infusionctl history` and `export` (ctl/history.c):
 * times on the command line, exact volumes, rows as JSON, CSV and a
 * table, and the merge of FHIR pages. No D-Bus, no clock (the caller
 * passes "now"), no I/O but to a FILE passed in, so
 * tests/unit/test-ctl-history.c can check them. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

/* Sizes that always suffice. */
#define HISTORY_ML_MAX          32      /* "-9223372036854.775808" */
#define HISTORY_TIME_MAX        48      /* "-292277-01-09T04:00:54.775Z", and local time */
#define HISTORY_ERROR_MAX       512

/* A time on the command line, as UTC µs since the epoch:
 *   "2026-11-24T10:00:00Z", "2026-11-24T10:00Z", "2026-11-24T10:00:00.5Z"
 *                                  ISO 8601, UTC ("Z") or an offset ("+01:00")
 *   "2026-11-24"                   midnight UTC of that day
 *   "@1795000000", "@1795000000.5" Unix seconds
 *   "-24h", "-7d", "-30min", "-90s" that long before now_usec (units s,
 *                                  min or m, h, d, w; a whole number)
 *   "now"                          now_usec
 * -EINVAL for anything else, -ERANGE for a time before 1970 or past
 * 9999; err (may be NULL) then says so, naming option, the text and what
 * is accepted. */
int history_parse_time(const char *option, const char *text, int64_t now_usec, int64_t *ret_usec, char *err,
                       size_t err_size);

/* Nanolitres as exact decimal millilitres: up to six decimals, trailing
 * zeros trimmed, integer arithmetic only: 1 -> "0.000001", 1500000 ->
 * "1.5", 20000000 -> "20", -250000 -> "-0.25". */
int history_format_ml(char *buf, size_t size, int64_t nl);

/* UTC µs as ISO 8601 UTC to the millisecond, cut and never rounded up:
 * "2023-11-14T22:13:20.123Z". */
int history_format_utc(char *buf, size_t size, int64_t usec);

/* UTC µs as the local wall-clock time (TZ), to the second, as
 * "2023-11-14 23:13:20"; the UTC text of history_format_utc() where the
 * local time cannot be told (a 32-bit time_t past 2038). */
int history_format_local(char *buf, size_t size, int64_t usec);

/* One value of a row as D-Bus gave it: type is its D-Bus type code. */
typedef union HistoryValue {
        int64_t i;                      /* x, i, n, y (widened) */
        uint64_t u;                     /* t, u, q (widened) */
        double d;                       /* d */
        bool b;                         /* b */
        const char *s;                  /* s, o, g */
} HistoryValue;

/* Adds key to the JSON object row: x, i, n, y, t, u, q as a JSON integer
 * (a t above INT64_MAX as an unsigned one), d as a number that reads back
 * exactly (null when not finite), s, o, g as a string, b as a boolean.
 * A key ending in "_utc_us" also gets its text beside it, the stem with
 * "_utc": started_utc_us 1700000000123456 adds started_utc
 * "2023-11-14T22:13:20.123Z". -EINVAL for another type, -ENOMEM. */
int history_row_set(struct json_object *row, const char *key, char type, const HistoryValue *v);

/* The infusion rows (a JSON array of objects, as history_row_set() built
 * them) on f:
 * - history_write_json(): one JSON array, a row per line, keys in the
 *   order the rows have them;
 * - history_write_csv(): RFC 4180, CRLF line ends, a header line of every
 *   column of docs/API.md in its order (each *_utc text after its
 *   *_utc_us), then any other key the rows have in the order first seen;
 *   a missing value is an empty field;
 * - history_write_table(): for people: ID, CH, STATUS, STARTED, ENDED
 *   (local time; "-" while active), DRUG (its name, else its id, else
 *   "basic"), RATE mL/h, VTBI mL, VOLUME mL (exact, from the nL), or
 *   "No infusions in this range." for none.
 * 0, -EINVAL when rows is not an array of objects, -EIO, -ENOMEM. */
int history_write_json(FILE *f, struct json_object *rows);
int history_write_csv(FILE *f, struct json_object *rows);
int history_write_table(FILE *f, struct json_object *rows);

/* s as one CSV field, in a new malloc()ed string: in double quotes, each
 * '"' doubled, when it has a comma, a quote, CR or LF; as it is otherwise.
 * NULL s is "". NULL when out of memory. */
char *history_csv_field(const char *s);

/* Appends the entries of the FHIR Bundle page to the Bundle bundle (which
 * gets an "entry" array if it has none), but a Device entry (one whose
 * resource.resourceType is "Device") that bundle already has, by fullUrl
 * (without one: any Device). Returns how many were appended, or -EINVAL
 * when either is not a Bundle or an entry is not an object, -ENOMEM. */
int history_fhir_merge(struct json_object *bundle, struct json_object *page);
