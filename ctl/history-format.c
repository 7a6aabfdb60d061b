/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/civil.h"
#include "common/macros.h"
#include "common/units.h"
#include "ctl/format.h"
#include "ctl/history-format.h"

#define USEC_PER_SEC            INT64_C(1000000)
#define USEC_PER_DAY            (INT64_C(86400) * USEC_PER_SEC)
/* 10000-01-01T00:00:00Z: times past 9999 are refused (ISO 8601's four
 * digits, FHIR's instant). */
#define USEC_YEAR_10000         INT64_C(253402300800000000)

#define JSON_FLAGS              (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static int bprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bprintf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        int n;

        if (size == 0)
                return -ENOBUFS;
        va_start(ap, fmt);
        n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

/* ---- calendar -------------------------------------------------------- */

static unsigned days_in_month(unsigned y, unsigned m) {
        static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
                return 29;
        return days[m - 1];
}

/* ---- parsing times --------------------------------------------------- */

#define TIME_FORMS \
        "Use an ISO 8601 UTC time (2026-11-24T10:00:00Z, 2026-11-24T10:00Z, or a date, 2026-11-24, " \
        "for midnight UTC), @UNIX-SECONDS (@1795000000), or a time before now (-24h, -7d, -30min, -90s)."

static int time_error(char *err, size_t size, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int time_error(char *err, size_t size, int r, const char *fmt, ...) {
        va_list ap;

        if (err && size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, size, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* Exactly n decimal digits. */
static bool read_digits(const char **p, unsigned n, unsigned *ret) {
        unsigned v = 0;

        for (unsigned i = 0; i < n; i++) {
                char c = (*p)[i];

                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (unsigned) (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool skip_char(const char **p, char c) {
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

/* A fraction of a second after the '.': 1 to 9 digits, cut to µs. */
static bool read_fraction(const char **p, int64_t *ret_usec) {
        int64_t us = 0, scale = 100000;
        size_t n = strspn(*p, "0123456789");

        if (n < 1 || n > 9)
                return false;
        for (size_t i = 0; i < n && i < 6; i++, scale /= 10)
                us += ((*p)[i] - '0') * scale;
        *p += n;
        *ret_usec = us;
        return true;
}

/* An unsigned decimal integer of at most 18 digits (fits int64_t). */
static bool read_integer(const char **p, int64_t *ret) {
        size_t n = strspn(*p, "0123456789");
        int64_t v = 0;

        if (n < 1 || n > 18)
                return false;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + ((*p)[i] - '0');
        *p += n;
        *ret = v;
        return true;
}

static int parse_iso(const char *option, const char *text, int64_t *ret, char *err, size_t err_size) {
        const char *p = text;
        unsigned y, mo, d, h = 0, mi = 0, s = 0, oh, om;
        int64_t frac = 0, offset = 0, days, usec;

        if (!read_digits(&p, 4, &y) || !skip_char(&p, '-') || !read_digits(&p, 2, &mo) || !skip_char(&p, '-') ||
            !read_digits(&p, 2, &d))
                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text, TIME_FORMS);
        if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a date (no such day). %s", option, text,
                                  TIME_FORMS);

        if (*p != '\0') {
                if (!skip_char(&p, 'T') || !read_digits(&p, 2, &h) || !skip_char(&p, ':') || !read_digits(&p, 2, &mi))
                        return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text,
                                          TIME_FORMS);
                if (skip_char(&p, ':')) {
                        if (!read_digits(&p, 2, &s))
                                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text,
                                                  TIME_FORMS);
                        if (skip_char(&p, '.') && !read_fraction(&p, &frac))
                                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text,
                                                  TIME_FORMS);
                }
                if (h > 23 || mi > 59 || s > 59)
                        return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time of day. %s", option, text,
                                          TIME_FORMS);

                if (*p == '\0')
                        /* Local or UTC? Guessing could shift a report by hours. */
                        return time_error(err, err_size, -EINVAL,
                                          "%s: '%s' has no time zone: add Z for UTC (%sZ), or an offset (+01:00). %s",
                                          option, text, text, TIME_FORMS);
                if (skip_char(&p, 'Z'))
                        offset = 0;
                else if (*p == '+' || *p == '-') {
                        int sign = *p++ == '-' ? -1 : 1;

                        if (!read_digits(&p, 2, &oh) || (skip_char(&p, ':'), !read_digits(&p, 2, &om)) || oh > 23 ||
                            om > 59)
                                return time_error(err, err_size, -EINVAL, "%s: '%s' has a bad time zone offset. %s",
                                                  option, text, TIME_FORMS);
                        offset = sign * (int64_t) (oh * 60 + om) * 60 * USEC_PER_SEC;
                } else
                        return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text,
                                          TIME_FORMS);
                if (*p != '\0')
                        return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text,
                                          TIME_FORMS);
        }

        days = civil_days_from_date(y, mo, d);
        usec = days * USEC_PER_DAY + ((int64_t) h * 3600 + mi * 60 + s) * USEC_PER_SEC + frac - offset;
        if (usec < 0)
                return time_error(err, err_size, -ERANGE, "%s: '%s' is before 1970.", option, text);
        if (usec >= USEC_YEAR_10000)
                return time_error(err, err_size, -ERANGE, "%s: '%s' is past the year 9999.", option, text);
        *ret = usec;
        return 0;
}

static int parse_unix(const char *option, const char *text, int64_t *ret, char *err, size_t err_size) {
        const char *p = text + 1;       /* after '@' */
        int64_t sec, frac = 0;

        if (!read_integer(&p, &sec) || (skip_char(&p, '.') && !read_fraction(&p, &frac)) || *p != '\0')
                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text, TIME_FORMS);
        if (sec >= USEC_YEAR_10000 / USEC_PER_SEC)
                return time_error(err, err_size, -ERANGE, "%s: '%s' is past the year 9999.", option, text);
        *ret = sec * USEC_PER_SEC + frac;
        return 0;
}

static int parse_relative(const char *option, const char *text, int64_t now_usec, int64_t *ret, char *err,
                          size_t err_size) {
        static const struct {
                const char *unit;
                int64_t usec;
        } units[] = {
                { "s",   USEC_PER_SEC },
                { "sec", USEC_PER_SEC },
                { "m",   60 * USEC_PER_SEC },
                { "min", 60 * USEC_PER_SEC },
                { "h",   3600 * USEC_PER_SEC },
                { "d",   USEC_PER_DAY },
                { "w",   7 * USEC_PER_DAY },
        };
        const char *p = text + 1;       /* after '-' */
        int64_t n;

        if (!read_integer(&p, &n))
                return time_error(err, err_size, -EINVAL, "%s: '%s' is not a time. %s", option, text, TIME_FORMS);
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcmp(p, units[i].unit) == 0) {
                        if (n > INT64_MAX / units[i].usec || n * units[i].usec > now_usec)
                                return time_error(err, err_size, -ERANGE, "%s: '%s' is before 1970.", option, text);
                        *ret = now_usec - n * units[i].usec;
                        return 0;
                }
        return time_error(err, err_size, -EINVAL,
                          "%s: '%s' is not a time: the unit must be s, min, h, d or w. %s", option, text, TIME_FORMS);
}

int history_parse_time(const char *option, const char *text, int64_t now_usec, int64_t *ret_usec, char *err,
                       size_t err_size) {
        int64_t v = 0;
        int r;

        if (err && err_size > 0)
                err[0] = '\0';
        if (!option)
                option = "time";
        if (!text || !*text)
                return time_error(err, err_size, -EINVAL, "%s: an empty time. %s", option, TIME_FORMS);

        if (strcmp(text, "now") == 0) {
                if (now_usec < 0)
                        return time_error(err, err_size, -ERANGE, "%s: now is before 1970.", option);
                v = now_usec;
                r = 0;
        } else if (text[0] == '@')
                r = parse_unix(option, text, &v, err, err_size);
        else if (text[0] == '-')
                r = parse_relative(option, text, now_usec, &v, err, err_size);
        else
                r = parse_iso(option, text, &v, err, err_size);
        if (r < 0)
                return r;
        *ret_usec = v;
        return 0;
}

/* ---- formatting ------------------------------------------------------ */

int history_format_ml(char *buf, size_t size, int64_t nl) {
        return units_nl_to_ml_text(nl, buf, size);
}

/* Floor division: -1 µs is in the millisecond before the epoch. */
static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int history_format_utc(char *buf, size_t size, int64_t usec) {
        struct utc_civil c;

        civil_from_utc_us(usec, &c);
        return bprintf(buf, size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", c.year, c.month, c.day, c.hour,
                       c.minute, c.second, c.usec / 1000);
}

int history_format_local(char *buf, size_t size, int64_t usec) {
        int64_t sec = floor_div(usec, USEC_PER_SEC);
        time_t t = (time_t) sec;
        struct tm tm;

        if ((int64_t) t != sec || !localtime_r(&t, &tm))
                return history_format_utc(buf, size, usec);
        if (size == 0 || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return -ENOBUFS;
        return 0;
}

/* ---- rows ------------------------------------------------------------ */

static bool has_suffix(const char *s, const char *suffix, size_t *ret_stem) {
        size_t n = strlen(s), k = strlen(suffix);

        if (n <= k || strcmp(s + n - k, suffix) != 0)
                return false;
        *ret_stem = n - k;
        return true;
}

static int object_add(struct json_object *o, const char *key, struct json_object *v) {
        /* json-c frees v if adding fails. */
        return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

int history_row_set(struct json_object *row, const char *key, char type, const HistoryValue *v) {
        struct json_object *j;
        bool integer = false;
        int64_t i = 0;
        size_t stem;
        int r;

        if (!row || !key || !v)
                return -EINVAL;

        switch (type) {
        case 'x':
        case 'i':
        case 'n':
        case 'y':
                i = v->i;
                integer = true;
                j = json_object_new_int64(i);
                break;
        case 't':
        case 'u':
        case 'q':
                if (v->u > INT64_MAX)
                        j = json_object_new_uint64(v->u);
                else {
                        i = (int64_t) v->u;
                        integer = true;
                        j = json_object_new_int64(i);
                }
                break;
        case 'd': {
                char text[FORMAT_NUMBER_MAX];

                if (!isfinite(v->d))
                        return object_add(row, key, NULL);
                if (format_json_double(text, sizeof text, v->d) < 0)
                        return -ENOBUFS;
                j = json_object_new_double_s(v->d, text);
                break;
        }
        case 's':
        case 'o':
        case 'g':
                j = json_object_new_string(v->s ?: "");
                break;
        case 'b':
                j = json_object_new_boolean(v->b);
                break;
        default:
                return -EINVAL;
        }
        if (!j)
                return -ENOMEM;
        r = object_add(row, key, j);
        if (r < 0)
                return r;

        if (integer && has_suffix(key, "_utc_us", &stem)) {
                char text[HISTORY_TIME_MAX], *name;

                r = history_format_utc(text, sizeof text, i);
                if (r < 0)
                        return r;
                if (asprintf(&name, "%.*s_utc", (int) stem, key) < 0)
                        return -ENOMEM;
                j = json_object_new_string(text);
                r = j ? object_add(row, name, j) : -ENOMEM;
                free(name);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int check_rows(struct json_object *rows) {
        if (!json_object_is_type(rows, json_type_array))
                return -EINVAL;
        for (size_t i = 0; i < json_object_array_length(rows); i++)
                if (!json_object_is_type(json_object_array_get_idx(rows, i), json_type_object))
                        return -EINVAL;
        return 0;
}

int history_write_json(FILE *f, struct json_object *rows) {
        size_t n;
        int r;

        r = check_rows(rows);
        if (r < 0)
                return r;
        n = json_object_array_length(rows);
        if (n == 0)
                fputs("[]\n", f);
        else {
                fputs("[\n", f);
                for (size_t i = 0; i < n; i++) {
                        const char *s = json_object_to_json_string_ext(json_object_array_get_idx(rows, i), JSON_FLAGS);

                        if (!s)
                                return -ENOMEM;
                        fprintf(f, "  %s%s\n", s, i + 1 < n ? "," : "");
                }
                fputs("]\n", f);
        }
        return ferror(f) ? -EIO : 0;
}

/* ---- CSV ------------------------------------------------------------- */

char *history_csv_field(const char *s) {
        size_t n = 0;
        char *out, *p;

        if (!s)
                s = "";
        if (!strpbrk(s, ",\"\r\n"))
                return strdup(s);
        for (const char *c = s; *c; c++)
                n += *c == '"' ? 2 : 1;
        out = malloc(n + 3);
        if (!out)
                return NULL;
        p = out;
        *p++ = '"';
        for (const char *c = s; *c; c++) {
                if (*c == '"')
                        *p++ = '"';
                *p++ = *c;
        }
        *p++ = '"';
        *p = '\0';
        return out;
}

/* The columns of Infusions (docs/API.md), each *_utc text after its *_utc_us. */
static const char *const csv_columns[] = {
        "id", "channel", "mode", "status", "rate_nl_per_h", "vtbi_nl", "kvo_rate_nl_per_h", "volume_nl",
        "started_utc_us", "started_utc", "started_mono_us", "ended_utc_us", "ended_utc", "checkpoint_utc_us",
        "checkpoint_utc", "care_area", "drug_id", "drug_name", "dose_rate", "dose_unit", "concentration",
        "library_sha256",
};

static bool in_list(const char *const *list, size_t n, const char *s) {
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i], s) == 0)
                        return true;
        return false;
}

static int csv_write(FILE *f, const char *s) {
        char *q = history_csv_field(s);

        if (!q)
                return -ENOMEM;
        fputs(q, f);
        free(q);
        return 0;
}

int history_write_csv(FILE *f, struct json_object *rows) {
        _cleanup_(freep) const char **columns = NULL;
        size_t n_columns = ELEMENTSOF(csv_columns), n;
        int r;

        r = check_rows(rows);
        if (r < 0)
                return r;
        n = json_object_array_length(rows);

        columns = malloc(sizeof *columns * n_columns);
        if (!columns)
                return -ENOMEM;
        memcpy(columns, csv_columns, sizeof csv_columns);
        /* Keys a newer daemon sends pass through, after the known ones. */
        for (size_t i = 0; i < n; i++) {
                json_object_object_foreach(json_object_array_get_idx(rows, i), key, value) {
                        const char **c;

                        (void) value;
                        if (in_list(columns, n_columns, key))
                                continue;
                        c = realloc(columns, sizeof *columns * (n_columns + 1));
                        if (!c)
                                return -ENOMEM;
                        columns = c;
                        columns[n_columns++] = key;
                }
        }

        for (size_t c = 0; c < n_columns; c++) {
                if (c > 0)
                        fputc(',', f);
                r = csv_write(f, columns[c]);
                if (r < 0)
                        return r;
        }
        fputs("\r\n", f);

        for (size_t i = 0; i < n; i++) {
                struct json_object *row = json_object_array_get_idx(rows, i);

                for (size_t c = 0; c < n_columns; c++) {
                        struct json_object *v;

                        if (c > 0)
                                fputc(',', f);
                        if (!json_object_object_get_ex(row, columns[c], &v) || !v)
                                continue;
                        if (json_object_is_type(v, json_type_string))
                                r = csv_write(f, json_object_get_string(v));
                        else {
                                const char *s = json_object_to_json_string_ext(v, JSON_FLAGS);

                                r = s ? csv_write(f, s) : -ENOMEM;
                        }
                        if (r < 0)
                                return r;
                }
                fputs("\r\n", f);
        }
        return ferror(f) ? -EIO : 0;
}

/* ---- table ----------------------------------------------------------- */

#define TABLE_COLUMNS           9
#define TABLE_CELL_MAX          128
#define TABLE_WIDTH_MAX         40

static bool row_int(struct json_object *row, const char *key, int64_t *ret) {
        struct json_object *v;

        if (!json_object_object_get_ex(row, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

static const char *row_str(struct json_object *row, const char *key) {
        struct json_object *v;

        if (!json_object_object_get_ex(row, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static void cell_int(char *buf, struct json_object *row, const char *key) {
        int64_t v;

        if (row_int(row, key, &v))
                snprintf(buf, TABLE_CELL_MAX, "%" PRId64, v);
        else
                snprintf(buf, TABLE_CELL_MAX, "-");
}

static void cell_ml(char *buf, struct json_object *row, const char *key) {
        int64_t v;

        if (!row_int(row, key, &v) || history_format_ml(buf, TABLE_CELL_MAX, v) < 0)
                snprintf(buf, TABLE_CELL_MAX, "-");
}

static void cell_time(char *buf, struct json_object *row, const char *key) {
        int64_t v;

        if (!row_int(row, key, &v) || history_format_local(buf, TABLE_CELL_MAX, v) < 0)
                snprintf(buf, TABLE_CELL_MAX, "-");
}

static void cell_str(char *buf, const char *s) {
        snprintf(buf, TABLE_CELL_MAX, "%s", s && *s ? s : "-");
        one_line(buf);
}

int history_write_table(FILE *f, struct json_object *rows) {
        static const char *const header[TABLE_COLUMNS] = {
                "ID", "CH", "STATUS", "STARTED", "ENDED", "DRUG", "RATE mL/h", "VTBI mL", "VOLUME mL",
        };
        /* Numbers line up on the right. */
        static const bool right[TABLE_COLUMNS] = { true, true, false, false, false, false, true, true, true };
        _cleanup_(freep) char (*cells)[TABLE_COLUMNS][TABLE_CELL_MAX] = NULL;
        size_t width[TABLE_COLUMNS] = {}, n;
        int r;

        r = check_rows(rows);
        if (r < 0)
                return r;
        n = json_object_array_length(rows);
        if (n == 0) {
                fputs("No infusions in this range.\n", f);
                return ferror(f) ? -EIO : 0;
        }

        cells = calloc(n + 1, sizeof *cells);
        if (!cells)
                return -ENOMEM;
        for (size_t c = 0; c < TABLE_COLUMNS; c++)
                snprintf(cells[0][c], TABLE_CELL_MAX, "%s", header[c]);
        for (size_t i = 0; i < n; i++) {
                struct json_object *row = json_object_array_get_idx(rows, i);
                char (*cell)[TABLE_CELL_MAX] = cells[i + 1];
                const char *drug = row_str(row, "drug_name");

                if (!drug || !*drug)
                        drug = row_str(row, "drug_id");
                cell_int(cell[0], row, "id");
                cell_int(cell[1], row, "channel");
                cell_str(cell[2], row_str(row, "status"));
                cell_time(cell[3], row, "started_utc_us");
                cell_time(cell[4], row, "ended_utc_us");
                cell_str(cell[5], drug && *drug ? drug : "basic");
                cell_ml(cell[6], row, "rate_nl_per_h");
                cell_ml(cell[7], row, "vtbi_nl");
                cell_ml(cell[8], row, "volume_nl");
        }

        for (size_t i = 0; i <= n; i++)
                for (size_t c = 0; c < TABLE_COLUMNS; c++)
                        width[c] = MAX(width[c], MIN(utf8_columns(cells[i][c]), (size_t) TABLE_WIDTH_MAX));
        for (size_t i = 0; i <= n; i++)
                for (size_t c = 0; c < TABLE_COLUMNS; c++) {
                        size_t w = utf8_columns(cells[i][c]);
                        int pad = (int) (width[c] > w ? width[c] - w : 0);
                        bool last = c == TABLE_COLUMNS - 1;

                        if (right[c])
                                fprintf(f, "%*s%s", pad, "", cells[i][c]);
                        else if (last)
                                fputs(cells[i][c], f);
                        else
                                fprintf(f, "%s%*s", cells[i][c], pad, "");
                        fputs(last ? "\n" : "  ", f);
                }
        return ferror(f) ? -EIO : 0;
}

/* ---- FHIR ------------------------------------------------------------ */

static bool is_device(struct json_object *entry) {
        struct json_object *resource, *type;

        return json_object_object_get_ex(entry, "resource", &resource) &&
               json_object_object_get_ex(resource, "resourceType", &type) &&
               json_object_is_type(type, json_type_string) && strcmp(json_object_get_string(type), "Device") == 0;
}

static const char *full_url(struct json_object *entry) {
        struct json_object *v;

        if (!json_object_object_get_ex(entry, "fullUrl", &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Whether entries already holds a Device with the fullUrl of device. */
static bool has_device(struct json_object *entries, struct json_object *device) {
        const char *url = full_url(device);

        for (size_t i = 0; i < json_object_array_length(entries); i++) {
                struct json_object *e = json_object_array_get_idx(entries, i);
                const char *u;

                if (!is_device(e))
                        continue;
                u = full_url(e);
                if (!url || (u && strcmp(u, url) == 0))
                        return true;
        }
        return false;
}

static bool is_bundle(struct json_object *o) {
        struct json_object *type;

        return json_object_is_type(o, json_type_object) && json_object_object_get_ex(o, "resourceType", &type) &&
               json_object_is_type(type, json_type_string) && strcmp(json_object_get_string(type), "Bundle") == 0;
}

int history_fhir_merge(struct json_object *bundle, struct json_object *page) {
        struct json_object *entries, *more;
        int added = 0;

        if (!is_bundle(bundle) || !is_bundle(page))
                return -EINVAL;
        if (!json_object_object_get_ex(page, "entry", &more))
                return 0;       /* FHIR leaves an empty array out */
        if (!json_object_is_type(more, json_type_array))
                return -EINVAL;
        if (!json_object_object_get_ex(bundle, "entry", &entries)) {
                entries = json_object_new_array();
                if (!entries || object_add(bundle, "entry", entries) < 0)
                        return -ENOMEM;
        }
        if (!json_object_is_type(entries, json_type_array))
                return -EINVAL;

        for (size_t i = 0; i < json_object_array_length(more); i++) {
                struct json_object *e = json_object_array_get_idx(more, i);

                if (!json_object_is_type(e, json_type_object))
                        return -EINVAL;
                if (is_device(e) && has_device(entries, e))
                        continue;
                if (json_object_array_add(entries, json_object_get(e)) < 0) {
                        json_object_put(e);
                        return -ENOMEM;
                }
                added++;
        }
        return added;
}
