/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macros.h"
#include "ctl/format.h"

/* snprintf() into buf, mapping truncation to -ENOBUFS. */
static int bprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bprintf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;
        int n;

        if (size == 0)
                return -ENOBUFS;
        va_start(ap, fmt);
        n = vsnprintf(buf, size, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        return (size_t) n >= size ? -ENOBUFS : 0;
}

/* "-0.000" -> "0.000": a value that rounds to zero has no sign worth
 * showing at the bedside. */
static void drop_negative_zero(char *s) {
        if (s[0] != '-')
                return;
        if (strspn(s + 1, "0.") != strlen(s + 1))
                return;
        memmove(s, s + 1, strlen(s));
}

/* To the microlitre, the precision volumes are shown with. */
static double round_ul(double ml) {
        return round(ml * 1000.0) / 1000.0;
}

double progress_fraction(double infused_ml, double kvo_ml, double vtbi_ml) {
        double f;

        if (!isfinite(vtbi_ml) || !isfinite(infused_ml))
                return 0;
        vtbi_ml = round_ul(vtbi_ml);
        if (vtbi_ml <= 0)
                return 0;
        if (!isfinite(kvo_ml) || kvo_ml < 0)
                kvo_ml = 0;
        f = (round_ul(infused_ml) - round_ul(kvo_ml)) / vtbi_ml;
        if (!(f > 0))
                return 0;
        return f > 1 ? 1 : f;
}

unsigned progress_permille(double fraction) {
        if (!(fraction > 0))
                return 0;
        if (fraction >= 1)
                return 1000;
        /* The epsilon only absorbs binary noise (0.29 * 1000 is
         * 289.99999999999994); it is far below a tenth of a percent. */
        return (unsigned) floor(fraction * 1000.0 + 1e-7);
}

int format_progress_bar(char *buf, size_t size, double fraction, unsigned width) {
        unsigned filled;

        if (width == 0 || width > FORMAT_PROGRESS_BAR_WIDTH_MAX)
                return -EINVAL;
        if (size < (size_t) width + 3) {
                if (size > 0)
                        buf[0] = '\0';
                return -ENOBUFS;
        }

        if (!(fraction > 0))
                fraction = 0;
        else if (fraction > 1)
                fraction = 1;
        filled = (unsigned) floor(fraction * width + 1e-9);
        if (filled > width)
                filled = width;

        buf[0] = '[';
        memset(buf + 1, '#', filled);
        memset(buf + 1 + filled, '.', width - filled);
        buf[width + 1] = ']';
        buf[width + 2] = '\0';
        return 0;
}

int format_hms(char *buf, size_t size, uint64_t sec) {
        return bprintf(buf, size, "%llu:%02u:%02u",
                       (unsigned long long) (sec / 3600),
                       (unsigned) (sec / 60 % 60),
                       (unsigned) (sec % 60));
}

int format_volume_ml(char *buf, size_t size, double ml) {
        int r;

        if (!isfinite(ml))
                return bprintf(buf, size, "n/a");
        r = bprintf(buf, size, "%.3f", ml);
        if (r >= 0)
                drop_negative_zero(buf);
        return r;
}

int format_rate_ml_per_h(char *buf, size_t size, double ml_per_h) {
        size_t n;
        int r;

        if (!isfinite(ml_per_h))
                return bprintf(buf, size, "n/a");
        r = bprintf(buf, size, "%.3f", ml_per_h);
        if (r < 0)
                return r;
        /* Trim to the digits that matter, keeping one decimal:
         * 100.000 -> 100.0, 0.050 -> 0.05. */
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == '0' && buf[n - 2] != '.')
                buf[--n] = '\0';
        drop_negative_zero(buf);
        return 0;
}

int format_pressure_mmhg(char *buf, size_t size, double mmhg) {
        int r;

        if (!isfinite(mmhg))
                return bprintf(buf, size, "n/a");
        r = bprintf(buf, size, "%.0f", mmhg);
        if (r >= 0)
                drop_negative_zero(buf);
        return r;
}

int format_progress_line(char *buf, size_t size, const ProgressSample *s, unsigned bar_width) {
        char bar[FORMAT_PROGRESS_BAR_MAX], vol[FORMAT_NUMBER_MAX], vtbi[FORMAT_NUMBER_MAX],
                rate[FORMAT_NUMBER_MAX], pressure[FORMAT_NUMBER_MAX], eta[FORMAT_HMS_MAX];
        double fraction;
        unsigned pm;
        int r;

        fraction = progress_fraction(s->volume_infused_ml, s->kvo_volume_ml, s->vtbi_ml);
        pm = progress_permille(fraction);

        r = format_progress_bar(bar, sizeof bar, fraction, bar_width);
        if (r < 0)
                return r;
        if ((r = format_volume_ml(vol, sizeof vol, s->volume_infused_ml)) < 0 ||
            (r = format_volume_ml(vtbi, sizeof vtbi, s->vtbi_ml)) < 0 ||
            (r = format_rate_ml_per_h(rate, sizeof rate, s->rate_ml_per_h)) < 0 ||
            (r = format_pressure_mmhg(pressure, sizeof pressure, s->pressure_mmhg)) < 0 ||
            (r = format_hms(eta, sizeof eta, s->time_remaining_sec)) < 0)
                return r;

        return bprintf(buf, size, "%s %3u.%u%%  %s / %s mL  %s mL/h  %s mmHg  %s  ETA %s",
                       bar, pm / 10, pm % 10, vol, vtbi, rate, pressure,
                       s->state ?: "?", eta);
}

static const struct {
        const char *suffix;
        uint64_t usec;
} duration_units[] = {
        { "",    UINT64_C(1000000) },   /* plain number: seconds */
        { "us",  UINT64_C(1) },
        { "ms",  UINT64_C(1000) },
        { "s",   UINT64_C(1000000) },
        { "m",   UINT64_C(60000000) },
        { "min", UINT64_C(60000000) },
        { "h",   UINT64_C(3600000000) },
};

int parse_duration_usec(const char *s, uint64_t *ret_usec) {
        uint64_t whole = 0, frac = 0, frac_scale = 1, unit = 0, result;
        bool overflow = false;
        const char *p = s;

        if (!s || !(*p >= '0' && *p <= '9'))
                return -EINVAL;         /* also refuses "", "-5s", "+5s", " 5s" */

        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned) (*p - '0');

                if (whole > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        whole = whole * 10 + d;
        }

        if (*p == '.') {
                p++;
                if (!(*p >= '0' && *p <= '9'))
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++)
                        /* Nine digits are a nanosecond of an hour's unit at
                         * worst; anything finer is below a microsecond. */
                        if (frac_scale < UINT64_C(1000000000)) {
                                frac = frac * 10 + (uint64_t) (*p - '0');
                                frac_scale *= 10;
                        }
        }

        for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
                if (strcmp(p, duration_units[i].suffix) == 0) {
                        unit = duration_units[i].usec;
                        break;
                }
        if (unit == 0)
                return -EINVAL;

        if (overflow || whole > UINT64_MAX / unit)
                return -ERANGE;
        result = whole * unit;
        /* frac < 1e9 and unit <= 3.6e9: the product fits in 64 bits. */
        frac = frac * unit / frac_scale;
        if (result > UINT64_MAX - frac)
                return -ERANGE;

        *ret_usec = result + frac;
        return 0;
}

int parse_double_strict(const char *s, double *ret) {
        char *end = NULL;
        double v;

        if (!s || *s == '\0')
                return -EINVAL;
        /* Only what a person types as a decimal number: this keeps out
         * strtod()'s hex floats, "inf", "nan" and leading white space. */
        if (strspn(s, "0123456789.eE+-") != strlen(s) || !strpbrk(s, "0123456789"))
                return -EINVAL;

        errno = 0;
        v = strtod(s, &end);
        if (end == s || *end != '\0')
                return -EINVAL;
        if (errno == ERANGE || !isfinite(v))
                return -ERANGE;

        *ret = v;
        return 0;
}

int parse_unsigned(const char *s, unsigned *ret) {
        unsigned long long v = 0;

        if (!s || *s == '\0' || strspn(s, "0123456789") != strlen(s))
                return -EINVAL;
        for (; *s; s++) {
                v = v * 10 + (unsigned) (*s - '0');
                if (v > UINT_MAX)
                        return -ERANGE;
        }

        *ret = (unsigned) v;
        return 0;
}

int parse_on_off(const char *s, bool *ret) {
        static const char *const on[] = { "on", "yes", "true", "1" };
        static const char *const off[] = { "off", "no", "false", "0" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
                if (strcmp(s, on[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcmp(s, off[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

char *one_line(char *s) {
        for (unsigned char *p = (unsigned char *) s; p && *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        *p = ' ';
        return s;
}

/* Length of the valid UTF-8 sequence at p, or 0 when it is not one
 * (overlong forms, surrogates and code points above U+10FFFF included).
 * Stops at a NUL, so it never reads past the end of the string. */
static size_t utf8_sequence_len(const unsigned char *p) {
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                return (p[1] & 0xc0) == 0x80 ? 2 : 0;
        if (p[0] >= 0xe0 && p[0] <= 0xef) {
                if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
                        return 0;
                if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))
                        return 0;
                return 3;
        }
        if (p[0] >= 0xf0 && p[0] <= 0xf4) {
                if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
                        return 0;
                if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
                        return 0;
                return 4;
        }
        return 0;
}

char *json_quote(const char *s) {
        const unsigned char *p;
        char *buf, *o;
        size_t len;

        if (!s)
                s = "";
        len = strlen(s);
        /* Worst case: every byte becomes a six-character escape. */
        if (len > (SIZE_MAX - 3) / 6)
                return NULL;
        buf = malloc(len * 6 + 3);
        if (!buf)
                return NULL;

        o = buf;
        *o++ = '"';
        for (p = (const unsigned char *) s; *p; ) {
                size_t n;

                switch (*p) {
                case '"':  *o++ = '\\'; *o++ = '"';  p++; continue;
                case '\\': *o++ = '\\'; *o++ = '\\'; p++; continue;
                case '\b': *o++ = '\\'; *o++ = 'b';  p++; continue;
                case '\f': *o++ = '\\'; *o++ = 'f';  p++; continue;
                case '\n': *o++ = '\\'; *o++ = 'n';  p++; continue;
                case '\r': *o++ = '\\'; *o++ = 'r';  p++; continue;
                case '\t': *o++ = '\\'; *o++ = 't';  p++; continue;
                default:
                        break;
                }

                if (*p < 0x20) {
                        o += sprintf(o, "\\u%04x", *p);
                        p++;
                        continue;
                }

                n = utf8_sequence_len(p);
                if (n == 0) {
                        memcpy(o, "\\ufffd", 6);
                        o += 6;
                        p++;
                        continue;
                }
                memcpy(o, p, n);
                o += n;
                p += n;
        }
        *o++ = '"';
        *o = '\0';
        return buf;
}

int format_json_double(char *buf, size_t size, double v) {
        int r = -EINVAL;

        if (!isfinite(v))
                return bprintf(buf, size, "null");
        /* Whole numbers as integers: "100", not "1e+02". */
        if (v == trunc(v) && fabs(v) < 1e15) {
                r = bprintf(buf, size, "%.0f", v);
                if (r >= 0)
                        drop_negative_zero(buf);
                return r;
        }

        for (int precision = 1; precision <= 17; precision++) {
                r = bprintf(buf, size, "%.*g", precision, v);
                if (r < 0)
                        return r;
                if (strtod(buf, NULL) == v)
                        break;
        }
        return r;
}

/* ---- programs and the drug library ---------------------------------- */

int parse_duration_sec(const char *s, uint32_t *ret_sec) {
        uint64_t usec;
        int r;

        r = parse_duration_usec(s, &usec);
        if (r < 0)
                return r;
        if (usec % UINT64_C(1000000) != 0)
                return -EDOM;
        if (usec / UINT64_C(1000000) > UINT32_MAX)
                return -ERANGE;

        *ret_sec = (uint32_t) (usec / UINT64_C(1000000));
        return 0;
}

int parse_step(const char *s, double *ret_rate_ml_per_h, double *ret_volume_ml) {
        char rate_text[64];
        const char *colon;
        double rate, volume;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
                return -EINVAL;
        n = (size_t) (colon - s);
        if (n >= sizeof rate_text)
                return -EINVAL;         /* no number a person types is that long */
        memcpy(rate_text, s, n);
        rate_text[n] = '\0';

        r = parse_double_strict(rate_text, &rate);
        if (r < 0)
                return r;
        r = parse_double_strict(colon + 1, &volume);
        if (r < 0)
                return r;

        *ret_rate_ml_per_h = rate;
        *ret_volume_ml = volume;
        return 0;
}

int format_plain_number(char *buf, size_t size, double v) {
        int decimals = 0, r;
        size_t n;

        if (!isfinite(v))
                return bprintf(buf, size, "n/a");
        /* Six significant digits: enough never to misstate a dose that was
         * typed, few enough for one worked out from a rate (3.80952, not
         * 3.8095238095). At most nine decimals. */
        if (v != 0) {
                int magnitude = (int) floor(log10(fabs(v)));

                decimals = 5 - magnitude;
                if (decimals < 0)
                        decimals = 0;
                if (decimals > 9)
                        decimals = 9;
        }
        r = bprintf(buf, size, "%.*f", decimals, v);
        if (r < 0)
                return r;
        /* 1000.00 -> 1000, 2.50000 -> 2.5 */
        if (strchr(buf, '.')) {
                n = strlen(buf);
                while (buf[n - 1] == '0')
                        buf[--n] = '\0';
                if (buf[n - 1] == '.')
                        buf[n - 1] = '\0';
        }
        drop_negative_zero(buf);
        /* A dose of 1e-12 is not 0: show it as it is. */
        if (strcmp(buf, "0") == 0 && v != 0)
                return bprintf(buf, size, "%g", v);
        return 0;
}

int format_dose(char *buf, size_t size, double dose, const char *unit) {
        char number[FORMAT_NUMBER_MAX];
        int r;

        r = format_plain_number(number, sizeof number, dose);
        if (r < 0)
                return r;
        if (!isfinite(dose) || !unit || !*unit)
                return bprintf(buf, size, "%s", number);
        return bprintf(buf, size, "%s %s", number, unit);
}

/* bprintf() at *pos, moving *pos on; once the buffer is full every later
 * call fails too. */
static int bappend(char *buf, size_t size, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bappend(char *buf, size_t size, size_t *pos, const char *fmt, ...) {
        va_list ap;
        int n;

        if (*pos >= size)
                return -ENOBUFS;
        va_start(ap, fmt);
        n = vsnprintf(buf + *pos, size - *pos, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        if ((size_t) n >= size - *pos) {
                *pos = size;
                return -ENOBUFS;
        }
        *pos += (size_t) n;
        return 0;
}

static bool nonempty(const char *s) {
        return s && *s;
}

/* "1 mL a demand, lockout 10 min, at most 4 an hour, limit 10 mL in any 4 h[, basal 0.5 mL/h]" */
static int append_pca_settings(char *buf, size_t size, size_t *pos, const PcaStatus *p) {
        char dose[FORMAT_NUMBER_MAX], limit[FORMAT_NUMBER_MAX], basal[FORMAT_NUMBER_MAX],
                lockout[FORMAT_SPAN_MAX], window[FORMAT_SPAN_MAX];
        int r;

        if ((r = format_plain_number(dose, sizeof dose, p->dose_ml)) < 0 ||
            (r = format_plain_number(limit, sizeof limit, p->window_limit_ml)) < 0 ||
            (r = format_plain_number(basal, sizeof basal, p->basal_ml_per_h)) < 0 ||
            (r = format_span_sec(lockout, sizeof lockout, p->lockout_sec)) < 0 ||
            (r = format_span_sec(window, sizeof window, p->limit_window_sec)) < 0)
                return r;

        r = bappend(buf, size, pos, "%s mL a demand, lockout %s, at most %" PRIu32 " an hour, limit %s mL in any %s",
                    dose, lockout, p->max_doses_per_hour, limit, window);
        if (r >= 0 && p->basal_ml_per_h > 0)
                r = bappend(buf, size, pos, ", basal %s mL/h", basal);
        return r;
}

/* Mode pca: no rate to show, but what the patient may have. */
static int append_pca_summary(char *buf, size_t size, size_t *pos, const ProgramSummary *s, const char *vtbi) {
        bool drug = s->has_library_properties && nonempty(s->drug);
        int r = 0;

        if (drug) {
                r = bappend(buf, size, pos, "%s", nonempty(s->drug_name) ? s->drug_name : s->drug);
                if (r >= 0 && nonempty(s->concentration))
                        r = bappend(buf, size, pos, " (%s)", s->concentration);
                if (r >= 0 && nonempty(s->care_area))
                        r = bappend(buf, size, pos, " in %s", s->care_area);
                if (r >= 0)
                        r = bappend(buf, size, pos, ": ");
        }
        if (r >= 0)
                r = append_pca_settings(buf, size, pos, s->pca);
        if (r >= 0)
                r = bappend(buf, size, pos, ", VTBI %s mL", vtbi);
        if (r >= 0 && !drug && s->has_library_properties) {
                if (nonempty(s->care_area))
                        r = bappend(buf, size, pos, " in %s", s->care_area);
                if (r >= 0)
                        r = bappend(buf, size, pos, " (no library drug)");
        }
        return r;
}

int format_program_summary(char *buf, size_t size, const ProgramSummary *s) {
        char rate[FORMAT_NUMBER_MAX], vtbi[FORMAT_NUMBER_MAX], dose[FORMAT_DOSE_MAX];
        const char *mode = nonempty(s->mode) && strcmp(s->mode, "continuous") != 0 ? s->mode : NULL;
        /* RateMlPerHour is only the first of several rates in these. */
        bool first_rate = mode && (strcmp(mode, "multistep") == 0 ||
                                   strcmp(mode, "loading") == 0 ||
                                   strcmp(mode, "intermittent") == 0 ||
                                   strcmp(mode, "ramp") == 0);
        size_t pos = 0;
        int r;

        if (size == 0)
                return -ENOBUFS;
        buf[0] = '\0';

        /* Three decimals, as the pump's volumes: a rate converted from a
         * dose is rarely round, and this is the line to check it on. */
        if ((r = format_volume_ml(rate, sizeof rate, s->rate_ml_per_h)) < 0 ||
            (r = format_volume_ml(vtbi, sizeof vtbi, s->vtbi_ml)) < 0)
                return r;

        r = bappend(buf, size, &pos, "Programmed");
        if (r >= 0 && mode)
                r = bappend(buf, size, &pos, " (%s)", mode);
        if (r >= 0)
                r = bappend(buf, size, &pos, ": ");
        if (r < 0)
                return r;

        if (s->pca)
                return append_pca_summary(buf, size, &pos, s, vtbi);

        if (!s->has_library_properties)
                return bappend(buf, size, &pos, "%s%s mL/h, VTBI %s mL",
                               first_rate ? "starting at " : "", rate, vtbi);

        if (!nonempty(s->drug)) {
                r = bappend(buf, size, &pos, "%s%s mL/h, VTBI %s mL", first_rate ? "starting at " : "", rate, vtbi);
                if (r >= 0 && nonempty(s->care_area))
                        r = bappend(buf, size, &pos, " in %s", s->care_area);
                if (r >= 0)
                        r = bappend(buf, size, &pos, " (no library drug)");
                return r;
        }

        r = bappend(buf, size, &pos, "%s", nonempty(s->drug_name) ? s->drug_name : s->drug);
        if (r >= 0 && isfinite(s->dose_rate)) {
                r = format_dose(dose, sizeof dose, s->dose_rate, s->dose_rate_unit);
                if (r >= 0)
                        r = bappend(buf, size, &pos, " %s", dose);
        }
        if (r >= 0 && nonempty(s->concentration))
                r = bappend(buf, size, &pos, " (%s)", s->concentration);
        if (r >= 0 && nonempty(s->care_area))
                r = bappend(buf, size, &pos, " in %s", s->care_area);
        if (r >= 0)
                r = bappend(buf, size, &pos, first_rate ? ", starting at %s mL/h, VTBI %s mL" : " = %s mL/h, VTBI %s mL",
                            rate, vtbi);
        return r;
}

size_t utf8_valid_prefix(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n;

        while (*p) {
                n = utf8_sequence_len(p);
                if (n == 0)
                        break;
                p += n;
        }
        return (size_t) (p - (const unsigned char *) s);
}

size_t utf8_columns(const char *s) {
        size_t n = 0;

        for (const unsigned char *p = (const unsigned char *) s; p && *p; p++)
                if ((*p & 0xc0) != 0x80)
                        n++;
        return n;
}

#define JSON_PRETTY_MAX_DEPTH 256

static void put_newline_indent(FILE *f, unsigned depth) {
        fputc('\n', f);
        for (unsigned i = 0; i < depth; i++)
                fputs("  ", f);
}

int json_pretty(const char *in, char **ret) {
        char stack[JSON_PRETTY_MAX_DEPTH];
        unsigned depth = 0;
        bool any = false;
        char *out = NULL;
        size_t out_size = 0;
        FILE *f;
        int r = 0;

        if (!in)
                return -EINVAL;
        f = open_memstream(&out, &out_size);
        if (!f)
                return -ENOMEM;

        for (const char *p = in; *p && r == 0; p++) {
                const char *q;

                switch (*p) {
                case ' ': case '\t': case '\n': case '\r':
                        continue;

                case '"':
                        /* Copy the string as it is, escapes and all. */
                        for (q = p + 1; *q && *q != '"'; q++)
                                if (*q == '\\' && q[1])
                                        q++;
                        if (*q != '"') {
                                r = -EINVAL;
                                break;
                        }
                        fwrite(p, 1, (size_t) (q - p + 1), f);
                        p = q;
                        break;

                case '{':
                case '[':
                        if (depth >= JSON_PRETTY_MAX_DEPTH) {
                                r = -EINVAL;
                                break;
                        }
                        q = p + 1 + strspn(p + 1, " \t\n\r");
                        if (*q == (*p == '{' ? '}' : ']')) {
                                /* Empty: "{}" and "[]" stay on the line. */
                                fputc(*p, f);
                                fputc(*q, f);
                                p = q;
                                break;
                        }
                        stack[depth++] = *p == '{' ? '}' : ']';
                        fputc(*p, f);
                        put_newline_indent(f, depth);
                        break;

                case '}':
                case ']':
                        if (depth == 0 || stack[depth - 1] != *p) {
                                r = -EINVAL;
                                break;
                        }
                        depth--;
                        put_newline_indent(f, depth);
                        fputc(*p, f);
                        break;

                case ',':
                        if (depth == 0) {
                                r = -EINVAL;
                                break;
                        }
                        fputc(',', f);
                        put_newline_indent(f, depth);
                        break;

                case ':':
                        fputs(": ", f);
                        break;

                default:
                        /* Numbers, true, false, null: byte for byte. */
                        fputc(*p, f);
                        break;
                }
                any = true;
        }
        if (r == 0 && (depth > 0 || !any))
                r = -EINVAL;
        if (r == 0)
                fputc('\n', f);

        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(out);
                return r;
        }
        *ret = out;
        return 0;
}

/* ---- clocks, power and tables ---------------------------------------- */

int format_clock_usec(char *buf, size_t size, uint64_t usec) {
        uint64_t sec = usec / UINT64_C(1000000);
        time_t t = (time_t) sec;
        struct tm tm;

        /* armhf's time_t is 32 bits (Debian 12 keeps that ABI, which
         * libgpiod's events share): past 2038 say so, never a wrong time. */
        if ((uint64_t) t != sec || !localtime_r(&t, &tm))
                return bprintf(buf, size, "n/a");
        return bprintf(buf, size, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int format_power(char *buf, size_t size, const PowerStatus *p) {
        bool percent = p->has_battery_percent && p->battery_percent >= 0;
        bool minutes = p->has_battery_minutes_left && p->battery_minutes_left >= 0;

        if (!p->has_on_mains) {
                if (percent)
                        return bprintf(buf, size, "battery %" PRIi32 " %%", p->battery_percent);
                if (size > 0)
                        buf[0] = '\0';
                return -ENODATA;
        }

        if (p->on_mains)
                return percent ? bprintf(buf, size, "on mains (battery %" PRIi32 " %%)", p->battery_percent)
                               : bprintf(buf, size, "on mains");

        if (!percent)
                return minutes ? bprintf(buf, size, "on battery, charge unknown, %" PRIi64 " min left",
                                         p->battery_minutes_left)
                               : bprintf(buf, size, "on battery, charge unknown");
        return minutes ? bprintf(buf, size, "on battery, %" PRIi32 " %%, %" PRIi64 " min left",
                                 p->battery_percent, p->battery_minutes_left)
                       : bprintf(buf, size, "on battery, %" PRIi32 " %%", p->battery_percent);
}

#define TABLE_COLUMNS_MAX       8
#define TABLE_COLUMN_WIDTH_MAX  40

int table_write(FILE *f, const char *const *cells, size_t n_cells, size_t n_columns) {
        size_t width[TABLE_COLUMNS_MAX] = {};

        if (n_columns == 0 || n_columns > TABLE_COLUMNS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < n_cells; i++) {
                size_t col = i % n_columns, w = utf8_columns(cells[i]);

                if (w > TABLE_COLUMN_WIDTH_MAX)
                        w = TABLE_COLUMN_WIDTH_MAX;
                if (w > width[col])
                        width[col] = w;
        }
        for (size_t i = 0; i < n_cells; i++) {
                size_t col = i % n_columns, w = utf8_columns(cells[i]);

                for (const unsigned char *p = (const unsigned char *) cells[i]; p && *p; p++)
                        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
                if (col == n_columns - 1 || i == n_cells - 1)
                        fputc('\n', f);
                else
                        fprintf(f, "%*s", (int) (width[col] > w ? width[col] - w : 0) + 2, "");
        }
        return ferror(f) ? -EIO : 0;
}

/* ---- PCA ------------------------------------------------------------- */

#define PCA_COLUMNS             5

int format_span_sec(char *buf, size_t size, uint64_t sec) {
        uint64_t h = sec / 3600, min = sec / 60 % 60, s = sec % 60;
        size_t pos = 0;
        int r = 0;

        if (size == 0)
                return -ENOBUFS;
        buf[0] = '\0';
        if (sec == 0)
                return bprintf(buf, size, "0 s");
        if (h > 0)
                r = bappend(buf, size, &pos, "%" PRIu64 " h", h);
        if (r >= 0 && min > 0)
                r = bappend(buf, size, &pos, "%s%" PRIu64 " min", pos > 0 ? " " : "", min);
        if (r >= 0 && s > 0)
                r = bappend(buf, size, &pos, "%s%" PRIu64 " s", pos > 0 ? " " : "", s);
        return r;
}

bool pca_status_is_pca(const PcaStatus *s) {
        return strcmp(s->mode, "pca") == 0;
}

bool pca_outcome_granted(const char *outcome) {
        return outcome && strcmp(outcome, "granted") == 0;
}

/* Denials that next_allowed_sec does not speak for: why, instead. */
static const struct {
        const char *outcome;
        const char *why;
} pca_denials[] = {
        { "cumulative-limit",  "the dose would cross the limit of its window" },
        { "not-running",       "the channel is not delivering" },
        { "alarm-active",      "an alarm has halted delivery" },
        { "reservoir",         "less is left than a dose" },
        { "bolus-in-progress", "a bolus or the loading dose is being given" },
};

int format_pca_demand_result(char *buf, size_t size, const char *outcome, uint64_t demand_id,
                             uint64_t next_allowed_sec) {
        char next[FORMAT_SPAN_MAX + 16] = "now";
        bool granted = pca_outcome_granted(outcome);
        int r;

        outcome = outcome ?: "";
        if (strcmp(outcome, "debounced") == 0)
                return bprintf(buf, size, "Debounced: the press merged into demand %" PRIu64 ".", demand_id);

        for (size_t i = 0; i < ELEMENTSOF(pca_denials); i++)
                if (strcmp(outcome, pca_denials[i].outcome) == 0)
                        return bprintf(buf, size, "Denied (%s): demand %" PRIu64 "; %s.",
                                       outcome, demand_id, pca_denials[i].why);

        if (!granted && strcmp(outcome, "lockout") != 0 && strcmp(outcome, "hourly-count") != 0)
                /* From an infusiond newer than this client. */
                return bprintf(buf, size, "Denied (%s): demand %" PRIu64 ".", outcome, demand_id);

        if (next_allowed_sec > 0) {
                strcpy(next, "in ");
                r = format_span_sec(next + 3, sizeof next - 3, next_allowed_sec);
                if (r < 0)
                        return r;
        }
        if (granted)
                return bprintf(buf, size, "Granted: demand %" PRIu64 "; next demand allowed %s.", demand_id, next);
        return bprintf(buf, size, "Denied (%s): demand %" PRIu64 "; next demand allowed %s.", outcome, demand_id, next);
}

int format_pca_status_line(char *buf, size_t size, const PcaStatus *s) {
        char dose[FORMAT_NUMBER_MAX], basal[FORMAT_NUMBER_MAX], volume[FORMAT_NUMBER_MAX], limit[FORMAT_NUMBER_MAX],
                lockout[FORMAT_SPAN_MAX], window[FORMAT_SPAN_MAX], next[FORMAT_SPAN_MAX];
        size_t pos = 0;
        int r;

        if (size == 0)
                return -ENOBUFS;
        buf[0] = '\0';
        if ((r = format_plain_number(dose, sizeof dose, s->dose_ml)) < 0 ||
            (r = format_plain_number(basal, sizeof basal, s->basal_ml_per_h)) < 0 ||
            (r = format_plain_number(volume, sizeof volume, s->window_volume_ml)) < 0 ||
            (r = format_plain_number(limit, sizeof limit, s->window_limit_ml)) < 0 ||
            (r = format_span_sec(lockout, sizeof lockout, s->lockout_sec)) < 0 ||
            (r = format_span_sec(window, sizeof window, s->limit_window_sec)) < 0 ||
            (r = format_span_sec(next, sizeof next, s->next_allowed_sec)) < 0)
                return r;

        r = bappend(buf, size, &pos, "%s mL, lockout %s, %" PRIu32 "/h", dose, lockout, s->max_doses_per_hour);
        if (r >= 0 && s->basal_ml_per_h > 0)
                r = bappend(buf, size, &pos, ", basal %s mL/h", basal);
        if (r >= 0)
                r = bappend(buf, size, &pos, ", limit %s of %s mL per %s; demands %" PRIu64 " (%" PRIu64 " granted); ",
                            volume, limit, window, s->demands_total, s->demands_granted);
        if (r >= 0)
                r = s->next_allowed_sec > 0 ? bappend(buf, size, &pos, "next in %s", next)
                                            : bappend(buf, size, &pos, "next allowed now");
        if (r >= 0 && s->limit_reached)
                r = bappend(buf, size, &pos, "; limit reached");
        return r;
}

/* Whole percent of limit, rounded down like the progress bar: the window
 * is not shown as full before it is (PcaLimitReached says when the next
 * dose no longer fits, which is well before 100 %). */
static unsigned percent_of(double v, double limit) {
        double p = v / limit * 100.0;

        if (!(p > 0))
                return 0;
        if (p >= UINT_MAX)
                return UINT_MAX;
        return (unsigned) floor(p + 1e-9);
}

static int pca_write_demands(FILE *f, const PcaDemand *d, size_t n) {
        static const char *const header[PCA_COLUMNS] = { "TIME", "SOURCE", "OUTCOME", "DOSE (mL)", "DETAIL" };
        enum { CELL_MAX = FORMAT_NUMBER_MAX };
        _cleanup_(freep) const char **cells = NULL;
        _cleanup_(freep) char *text = NULL;

        if (n == 0) {
                fputs("No demands recorded.\n", f);
                return ferror(f) ? -EIO : 0;
        }
        if (n > (SIZE_MAX / sizeof *cells - 1) / PCA_COLUMNS || n > SIZE_MAX / (2 * CELL_MAX))
                return -ENOMEM;
        cells = calloc((n + 1) * PCA_COLUMNS, sizeof *cells);
        text = calloc(n, 2 * CELL_MAX);         /* the clock and the dose of each row */
        if (!cells || !text)
                return -ENOMEM;

        memcpy(cells, header, sizeof header);
        for (size_t i = 0; i < n; i++) {
                const char **row = cells + (i + 1) * PCA_COLUMNS;
                char *clock = text + i * 2 * CELL_MAX, *dose = clock + CELL_MAX;

                (void) format_clock_usec(clock, CELL_MAX, d[i].utc_usec);
                (void) format_volume_ml(dose, CELL_MAX, d[i].dose_ml);
                row[0] = clock;
                row[1] = d[i].source ?: "";
                row[2] = d[i].outcome ?: "";
                row[3] = dose;
                row[4] = d[i].detail ?: "";
        }
        return table_write(f, cells, (n + 1) * PCA_COLUMNS, PCA_COLUMNS);
}

static void fputs_one_word(const char *s, FILE *f) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, f);
}

int pca_write_report(FILE *f, unsigned channel, const PcaStatus *s, const PcaDemand *demands, size_t n) {
        char a[FORMAT_NUMBER_MAX], b[FORMAT_NUMBER_MAX], span[FORMAT_SPAN_MAX];

        if (pca_status_is_pca(s)) {
                fprintf(f, "Channel %u: PCA, ", channel);
                fputs_one_word(s->state[0] ? s->state : "?", f);
                fputc('\n', f);

                (void) format_plain_number(a, sizeof a, s->dose_ml);
                fprintf(f, "        PCA dose: %s mL\n", a);
                (void) format_span_sec(span, sizeof span, s->lockout_sec);
                fprintf(f, "         Lockout: %s\n", span);
                fprintf(f, "    Max per hour: %" PRIu32 " doses\n", s->max_doses_per_hour);
                (void) format_plain_number(a, sizeof a, s->window_limit_ml);
                (void) format_span_sec(span, sizeof span, s->limit_window_sec);
                fprintf(f, "           Limit: %s mL in any %s\n", a, span);
                if (s->basal_ml_per_h > 0) {
                        (void) format_plain_number(a, sizeof a, s->basal_ml_per_h);
                        fprintf(f, "      Basal rate: %s mL/h\n", a);
                } else
                        fputs("      Basal rate: none\n", f);
        } else {
                fprintf(f, "Channel %u is not in PCA mode (", channel);
                if (s->mode[0]) {
                        fputs("mode ", f);
                        fputs_one_word(s->mode, f);
                } else
                        fputs("no program", f);
                fputs("); its PCA history still stands.\n", f);
        }

        fprintf(f, "         Demands: %" PRIu64 " (%" PRIu64 " granted)\n", s->demands_total, s->demands_granted);
        if (s->next_allowed_sec > 0) {
                (void) format_span_sec(span, sizeof span, s->next_allowed_sec);
                fprintf(f, "     Next demand: allowed in %s\n", span);
        } else
                fputs("     Next demand: allowed now\n", f);

        (void) format_plain_number(a, sizeof a, s->window_volume_ml);
        if (s->window_limit_ml > 0) {
                (void) format_plain_number(b, sizeof b, s->window_limit_ml);
                fprintf(f, "   Window volume: %s of %s mL (%u %%)\n", a, b,
                        percent_of(s->window_volume_ml, s->window_limit_ml));
        } else
                fprintf(f, "   Window volume: %s mL\n", a);
        fprintf(f, "   Limit reached: %s\n", s->limit_reached ? "yes" : "no");
        fputc('\n', f);

        return pca_write_demands(f, demands, n);
}

static int json_member_string(FILE *f, const char *sep, const char *key, const char *value) {
        _cleanup_(freep) char *v = json_quote(value);

        if (!v)
                return -ENOMEM;
        fprintf(f, "%s\"%s\":%s", sep, key, v);
        return 0;
}

static int json_member_double(FILE *f, const char *sep, const char *key, double value) {
        char buf[FORMAT_NUMBER_MAX];
        int r;

        r = format_json_double(buf, sizeof buf, value);
        if (r < 0)
                return r;
        fprintf(f, "%s\"%s\":%s", sep, key, buf);
        return 0;
}

int pca_write_json(FILE *f, const PcaStatus *s, const PcaDemand *demands, size_t n) {
        int r;

        if ((r = json_member_string(f, "{", "mode", s->mode)) < 0 ||
            (r = json_member_string(f, ",", "state", s->state)) < 0 ||
            (r = json_member_double(f, ",", "pca_dose_ml", s->dose_ml)) < 0)
                return r;
        fprintf(f, ",\"lockout_sec\":%" PRIu32 ",\"max_doses_per_hour\":%" PRIu32,
                s->lockout_sec, s->max_doses_per_hour);
        if ((r = json_member_double(f, ",", "window_limit_ml", s->window_limit_ml)) < 0)
                return r;
        fprintf(f, ",\"limit_window_sec\":%" PRIu32, s->limit_window_sec);
        if ((r = json_member_double(f, ",", "basal_rate_ml_per_hour", s->basal_ml_per_h)) < 0)
                return r;
        fprintf(f, ",\"pca_demands_total\":%" PRIu64 ",\"pca_demands_granted\":%" PRIu64
                ",\"next_demand_allowed_sec\":%" PRIu64,
                s->demands_total, s->demands_granted, s->next_allowed_sec);
        if ((r = json_member_double(f, ",", "window_volume_ml", s->window_volume_ml)) < 0)
                return r;
        fprintf(f, ",\"pca_limit_reached\":%s,\"demands\":[", s->limit_reached ? "true" : "false");

        for (size_t i = 0; i < n; i++) {
                const PcaDemand *d = &demands[i];

                fprintf(f, "%s{\"id\":%" PRIu64 ",\"utc_usec\":%" PRIu64, i > 0 ? "," : "", d->id, d->utc_usec);
                if ((r = json_member_string(f, ",", "source", d->source)) < 0 ||
                    (r = json_member_string(f, ",", "outcome", d->outcome)) < 0 ||
                    (r = json_member_string(f, ",", "detail", d->detail)) < 0 ||
                    (r = json_member_double(f, ",", "dose_ml", d->dose_ml)) < 0)
                        return r;
                fputc('}', f);
        }
        fputs("]}\n", f);
        return ferror(f) ? -EIO : 0;
}
