/* SPDX-License-Identifier: MIT */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "config/config-keys.h"
#include "config/parser.h"
#include "common/units.h"
#include "core/mechanism.h"


static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* The key table lives in keys.c; this file is the parser. */
#define keys config_keys
#define section_names config_section_names

void config_report(struct parser *p, unsigned line, const char *format, ...) {
        p->n_errors++;
        if (!p->err)
                return;

        if (line > 0)
                fprintf(p->err, "%s:%u: ", p->name, line);
        else
                fprintf(p->err, "%s: ", p->name);

        va_list ap;
        va_start(ap, format);
        vfprintf(p->err, format, ap);
        va_end(ap);
        fputc('\n', p->err);
}

static void report_syntax_error(struct parser *p, const char *what) {
        config_report(p, p->line, "syntax error: %s", what);
}

/* "a, b, c" into buf. */
static void join(char *buf, size_t size, const char *const *items, size_t n) {
        size_t len = 0;

        buf[0] = '\0';
        for (size_t i = 0; i < n && len < size; i++) {
                int r = snprintf(buf + len, size - len, "%s%s", i > 0 ? ", " : "", items[i]);
                if (r < 0)
                        break;
                len += (size_t) r;
        }
}

static void known_keys(enum section s, char *buf, size_t size) {
        const char *names[ELEMENTSOF(keys)];
        size_t n = 0;

        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == s)
                        names[n++] = keys[i].name;
        join(buf, size, names, n);
}

static void describe_range(const struct key *k, char *buf, size_t size) {
        switch (k->kind) {
        case VALUE_MICROSTEPS:
                snprintf(buf, size, "1, 2, 4, 8, 16, 32, 64, 128, 256");
                break;
        case VALUE_SEED:
                snprintf(buf, size, "0 to %ju", (uintmax_t) UINT64_MAX);
                break;
        case VALUE_BOOL:
                snprintf(buf, size, "yes, no, true, false, on, off, 1, 0");
                break;
        default:
                snprintf(buf, size, "%.10g to %.10g%s%s", k->min, k->max,
                         k->unit ? " " : "", k->unit ? k->unit : "");
        }
}

/* strtod() accepts "inf", "nan", hex floats and, through the locale, a
 * decimal comma; a config file means none of those. */
static int parse_decimal(struct parser *p, const char *s, double *ret) {
        if (!*s)
                return -EINVAL;
        for (const char *c = s; *c; c++)
                if (!strchr("0123456789.eE+-", *c))
                        return -EINVAL;

        char *end;
        errno = 0;
        double d = strtod_l(s, &end, p->c_locale);
        if (end == s || *end)
                return -EINVAL;
        if (errno == ERANGE && isinf(d))
                return -ERANGE;
        if (!isfinite(d))
                return -EINVAL;

        *ret = d;
        return 0;
}

/* Digits only (after an optional '-' when allow_negative): strtoll() alone
 * would take leading blanks, and strtoull() quietly wraps "-1". */
static bool is_whole_number(const char *s, bool allow_negative) {
        if (allow_negative && *s == '-')
                s++;
        if (!*s)
                return false;
        for (; *s; s++)
                if (!isdigit((unsigned char) *s))
                        return false;
        return true;
}

/* The file unit times scale must land on a whole stored unit: the design
 * refuses rather than silently rounds. The tolerance only absorbs binary
 * floating point (26.6 * 1000 = 26599.999999999996). */
static bool is_whole_after_scaling(double v, double scale, int64_t stored) {
        double scaled = v * scale;
        return fabs(scaled - (double) stored) <= 1e-9 * fmax(1.0, fabs(scaled));
}

static int scale_to_int(double v, double scale, double min, double max, int64_t *ret) {
        /* Range check in the stored unit, so the check and the stored value
         * agree at the edges (0.01 mL/h is 10000 nL/h, not 9999.99...). */
        int64_t min_stored = llround(min * scale), max_stored = llround(max * scale);
        double scaled = v * scale;

        if (scaled < (double) min_stored - 0.5 || scaled > (double) max_stored + 0.5)
                return -ERANGE;
        int64_t stored = llround(scaled);
        if (stored < min_stored || stored > max_stored)
                return -ERANGE;

        *ret = stored;
        return 0;
}

static bool in_list(const char *s, const char *const *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (streq(s, list[i]))
                        return true;
        return false;
}

static int set_string(void *field, const char *value) {
        char *s = strdup(value);
        if (!s)
                return -ENOMEM;
        free(*(char **) field);
        *(char **) field = s;
        return 0;
}

/* Parse value for key k, store it in p->config. line 0: a default. */
static int parse_value(struct parser *p, const struct key *k, const char *value, unsigned line) {
        void *field = (uint8_t *) p->config + k->offset;
        char range[128];
        int r;

        describe_range(k, range, sizeof(range));

        switch (k->kind) {
        case VALUE_CHOICE: {
                const char *const *c;
                char allowed[128];

                for (c = k->choices; *c; c++)
                        if (streq(value, *c))
                                break;
                if (!*c) {
                        size_t n = 0;
                        while (k->choices[n])
                                n++;
                        join(allowed, sizeof(allowed), k->choices, n);
                        config_report(p, line, "%s: \"%s\" is not allowed (allowed: %s)", k->name, value, allowed);
                        return -EINVAL;
                }
                return set_string(field, value);
        }

        case VALUE_STRING:
                /* Only a default may be empty: it means "not set". */
                if (!*value && line > 0) {
                        config_report(p, line, "%s: empty (required: a name)", k->name);
                        return -EINVAL;
                }
                return set_string(field, value);

        case VALUE_PATH: {
                if (!*value) {
                        config_report(p, line, "%s: empty (required: a file name)", k->name);
                        return -EINVAL;
                }
                return set_string(field, value);
        }

        case VALUE_CLOCK:
                if (streq(value, "real"))
                        *(enum config_clock *) field = CONFIG_CLOCK_REAL;
                else if (streq(value, "virtual"))
                        *(enum config_clock *) field = CONFIG_CLOCK_VIRTUAL;
                else {
                        config_report(p, line, "%s: \"%s\" is not allowed (allowed: real, virtual)", k->name, value);
                        return -EINVAL;
                }
                return 0;

        case VALUE_INT:
        case VALUE_MICROSTEPS: {
                if (!*value) {
                        config_report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return -EINVAL;
                }
                if (!is_whole_number(value, true)) {
                        config_report(p, line, "%s: \"%s\" is not a whole number (allowed: %s)", k->name, value, range);
                        return -EINVAL;
                }
                errno = 0;
                long long v = strtoll(value, NULL, 10);
                bool ok = errno == 0 && v >= (long long) k->min && v <= (long long) k->max;
                /* A power of two: what stepper drivers offer. */
                if (ok && k->kind == VALUE_MICROSTEPS)
                        ok = (v & (v - 1)) == 0;
                if (!ok) {
                        config_report(p, line, "%s: \"%s\" is %s (allowed: %s)", k->name, value,
                               k->kind == VALUE_MICROSTEPS ? "not allowed" : "out of range", range);
                        return -ERANGE;
                }
                *(int64_t *) field = v;
                return 0;
        }

        case VALUE_SEED: {
                if (!*value) {
                        config_report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return -EINVAL;
                }
                if (!is_whole_number(value, false)) {
                        config_report(p, line, "%s: \"%s\" is not a whole number (allowed: %s)", k->name, value, range);
                        return -EINVAL;
                }
                errno = 0;
                unsigned long long v = strtoull(value, NULL, 10);
                if (errno != 0) {
                        config_report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
                        return -ERANGE;
                }
                *(uint64_t *) field = v;
                return 0;
        }

        case VALUE_BOOL: {
                static const char *const yes[] = { "yes", "true", "on", "1" };
                static const char *const no[] = { "no", "false", "off", "0" };
                if (in_list(value, yes, ELEMENTSOF(yes)))
                        *(bool *) field = true;
                else if (in_list(value, no, ELEMENTSOF(no)))
                        *(bool *) field = false;
                else {
                        config_report(p, line, "%s: \"%s\" is not allowed (allowed: %s)", k->name, value, range);
                        return -EINVAL;
                }
                return 0;
        }

        case VALUE_ML:
        case VALUE_SCALED:
        case VALUE_DOUBLE: {
                double d;

                r = parse_decimal(p, value, &d);
                if (r == -EINVAL) {
                        if (*value)
                                config_report(p, line, "%s: \"%s\" is not a number (allowed: %s)", k->name, value, range);
                        else
                                config_report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return r;
                }

                if (k->kind == VALUE_DOUBLE) {
                        if (r < 0 || d < k->min || d > k->max) {
                                config_report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
                                return -ERANGE;
                        }
                        *(double *) field = d * k->scale;
                        return 0;
                }

                int64_t stored;
                if (r >= 0) {
                        if (k->kind == VALUE_ML)
                                r = units_ml_to_nl(d, llround(k->min * NL_PER_ML),
                                                   llround(k->max * NL_PER_ML), &stored);
                        else
                                r = scale_to_int(d, k->scale, k->min, k->max, &stored);
                }
                if (r < 0) {
                        config_report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
                        return -ERANGE;
                }
                if (!is_whole_after_scaling(d, k->scale, stored)) {
                        config_report(p, line, "%s: \"%s\" is finer than the resolution of 1 %s (allowed: %s)",
                               k->name, value, k->stored_unit, range);
                        return -ERANGE;
                }
                *(int64_t *) field = stored;
                return 0;
        }
        }

        return -EINVAL;
}

static void check_key_line_handled(struct parser *p) {
        /* libinih calls the handler for every well-formed "key = value"
         * line; one it did not call for is one it refused. */
        if (p->key_line_pending) {
                report_syntax_error(p, "expected \"key = value\", \"[section]\" or a comment");
                if (p->first_refused_key_line == 0)
                        p->first_refused_key_line = p->line;
        }
        p->key_line_pending = false;
}

/* Sections are tracked here rather than from libinih's section argument:
 * an unknown section must be reported at its header even when it holds no
 * keys, and only one error per unknown section, not one per key in it. */
static void scan_section_header(struct parser *p, char *header) {
        char *end = strchr(header + 1, ']');

        if (!end) {
                report_syntax_error(p, "\"[\" without \"]\"");
                p->section = SECTION_IGNORED;
                return;
        }

        const char *rest = end + 1;
        rest += strspn(rest, " \t\r\n");
        if (*rest && *rest != ';' && *rest != '#') {
                report_syntax_error(p, "text after \"]\"");
                p->section = SECTION_IGNORED;
                return;
        }

        *end = '\0';
        const char *name = header + 1;
        for (int s = 0; s < _SECTION_MAX; s++)
                if (streq(name, section_names[s])) {
                        p->section = s;
                        if (p->section_line[s] == 0)
                                p->section_line[s] = p->line;
                        return;
                }

        char known[512];
        join(known, sizeof(known), section_names, _SECTION_MAX);
        config_report(p, p->line, "[%s]: unknown section (known: %s)", name, known);
        p->section = SECTION_IGNORED;
}

/* Both sources: up to size - 1 bytes of the next line into buf, like
 * fgets(). Sets *ret_truncated when the line did not fit, after skipping
 * the rest of it. */
static char *read_line(struct parser *p, char *buf, int size, bool *ret_truncated) {
        *ret_truncated = false;

        if (p->file) {
                errno = 0;
                if (!fgets(buf, size, p->file)) {
                        if (ferror(p->file))
                                p->read_errno = errno > 0 ? errno : EIO;
                        return NULL;
                }
                if (!strchr(buf, '\n')) {
                        int c = getc(p->file);
                        if (c != EOF) {
                                *ret_truncated = true;
                                while (c != EOF && c != '\n')
                                        c = getc(p->file);
                        }
                }
                return buf;
        }

        if (!*p->text)
                return NULL;
        size_t len = strcspn(p->text, "\n");
        size_t line_len = len + (p->text[len] == '\n');
        size_t n = MIN(line_len, (size_t) size - 1);
        memcpy(buf, p->text, n);
        buf[n] = '\0';
        *ret_truncated = n < line_len;
        p->text += line_len;
        return buf;
}

/* The ini_reader: counts lines (Debian's libinih is built without
 * INI_HANDLER_LINENO, so the handler cannot be told) and sees every line
 * before libinih does. */
static char *reader(char *buf, int size, void *userdata) {
        struct parser *p = userdata;
        bool truncated;

        check_key_line_handled(p);

        if (!read_line(p, buf, size, &truncated))
                return NULL;
        p->line++;

        if (truncated) {
                /* libinih would parse the rest as a line of its own and a
                 * truncated value (a path, say) would pass unnoticed. */
                char what[64];
                snprintf(what, sizeof(what), "line longer than %d characters", size - 2);
                report_syntax_error(p, what);
                strcpy(buf, "\n");
                return buf;
        }

        /* Drop a UTF-8 BOM and indentation: libinih would take an indented
         * line as the continuation of the previous value, which reads as a
         * key of its own to a person and is how a stray edit could change
         * a limit unnoticed. */
        size_t skip = 0;
        if (p->line == 1 && (unsigned char) buf[0] == 0xEF &&
            (unsigned char) buf[1] == 0xBB && (unsigned char) buf[2] == 0xBF)
                skip = 3;
        while (buf[skip] && isspace((unsigned char) buf[skip]))
                skip++;
        if (skip > 0)
                memmove(buf, buf + skip, strlen(buf + skip) + 1);

        if (buf[0] == '\0' || buf[0] == ';' || buf[0] == '#')
                return buf;

        if (buf[0] == '[') {
                scan_section_header(p, buf);
                /* libinih never sees sections: the handler uses ours. */
                strcpy(buf, "\n");
                return buf;
        }

        p->key_line_pending = true;
        return buf;
}

static int handler(void *userdata, const char *section_unused, const char *name, const char *value) {
        struct parser *p = userdata;
        char known[256];

        p->key_line_pending = false;

        if (!*name) {
                report_syntax_error(p, "no key before \"=\"");
                return 1;
        }

        if (p->section == SECTION_IGNORED)
                return 1;
        if (p->section == SECTION_NONE) {
                join(known, sizeof(known), section_names, _SECTION_MAX);
                config_report(p, p->line, "%s: outside any section (sections: %s)", name, known);
                return 1;
        }

        const struct key *k = NULL;
        size_t i;
        for (i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == (enum section) p->section && streq(keys[i].name, name)) {
                        k = &keys[i];
                        break;
                }
        if (!k) {
                known_keys(p->section, known, sizeof(known));
                config_report(p, p->line, "%s: unknown key in [%s] (known: %s)",
                       name, section_names[p->section], known);
                return 1;
        }

        if (p->key_line[i] > 0) {
                config_report(p, p->line, "%s: duplicate (first set on line %u)", name, p->key_line[i]);
                p->key_ok[i] = false;
                return 1;
        }
        p->key_line[i] = p->line;

        int r = parse_value(p, k, value, p->line);
        if (r == -ENOMEM)
                p->out_of_memory = true;
        p->key_ok[i] = r >= 0;
        return 1;
}

static void apply_defaults(struct parser *p, bool pump_section) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const struct key *k = &keys[i];

                if (p->key_line[i] > 0 || (k->section == SECTION_PUMP) != pump_section)
                        continue;
                if (!k->default_value) {
                        /* A hardware section's keys are needed only when
                         * the section is: config_section_in_use() says. */
                        if (!config_section_in_use(p, k->section))
                                continue;
                        config_report(p, 0, "[%s] %s: missing (required)", section_names[k->section], k->name);
                        continue;
                }
                int r = parse_value(p, k, k->default_value, 0);
                if (r == -ENOMEM)
                        p->out_of_memory = true;
                p->key_ok[i] = r >= 0;
        }
}

static void check_missing_and_apply_defaults(struct parser *p) {
        /* [pump] first: which devices are in use decides what else is required. */
        apply_defaults(p, true);
        config_resolve_devices(p);
        apply_defaults(p, false);
}

/* A key's line for a message about two keys: the one that was written in
 * the file, since that is what the reader has to change. */
static unsigned line_of_pair(const struct parser *p, size_t a, size_t b) {
        return p->key_line[a] > 0 ? p->key_line[a] : p->key_line[b];
}

static const char *name_of_pair(const struct parser *p, size_t a, size_t b) {
        return p->key_line[a] > 0 || p->key_line[b] == 0 ? keys[a].name : keys[b].name;
}

static void check_across_keys(struct parser *p) {
        const struct config *c = p->config;

        if (p->key_ok[KEY_KVO_RATE] && p->key_ok[KEY_MAX_KVO_RATE] &&
            c->kvo_rate_nl_per_h > c->max_kvo_rate_nl_per_h)
                config_report(p, line_of_pair(p, KEY_KVO_RATE, KEY_MAX_KVO_RATE),
                       "%s: kvo_rate_ml_per_h (%g mL/h) is above max_kvo_rate_ml_per_h (%g mL/h)",
                       name_of_pair(p, KEY_KVO_RATE, KEY_MAX_KVO_RATE),
                       units_nl_to_ml(c->kvo_rate_nl_per_h), units_nl_to_ml(c->max_kvo_rate_nl_per_h));

        /* The lease must outlive two missed control ticks, so one late tick
         * (a slow database write, a busy bus) never stops the motor. */
        if (p->key_ok[KEY_LEASE] && p->key_ok[KEY_CONTROL_PERIOD] &&
            c->control_period_us * 3 > c->lease_us)
                config_report(p, line_of_pair(p, KEY_CONTROL_PERIOD, KEY_LEASE),
                       "%s: control_period_ms (%g ms) is more than a third of lease_ms (%g ms): "
                       "two missed control ticks would let the lease lapse",
                       name_of_pair(p, KEY_CONTROL_PERIOD, KEY_LEASE),
                       (double) c->control_period_us / US_PER_MS, (double) c->lease_us / US_PER_MS);

        /* The alert comes first, then the alarm; low battery before depleted. */
        if (p->key_ok[KEY_IDLE_ALERT] && p->key_ok[KEY_IDLE_ALARM] && c->idle_alarm_us <= c->idle_alert_us)
                config_report(p, line_of_pair(p, KEY_IDLE_ALERT, KEY_IDLE_ALARM),
                       "%s: idle_alarm_s (%g s) must be longer than idle_alert_s (%g s)",
                       name_of_pair(p, KEY_IDLE_ALERT, KEY_IDLE_ALARM),
                       (double) c->idle_alarm_us / US_PER_SEC, (double) c->idle_alert_us / US_PER_SEC);
        if (p->key_ok[KEY_BATTERY_LOW] && p->key_ok[KEY_BATTERY_DEPLETED] &&
            c->battery_depleted_s >= c->battery_low_s)
                config_report(p, line_of_pair(p, KEY_BATTERY_DEPLETED, KEY_BATTERY_LOW),
                       "%s: battery_depleted_min (%g min) must be less than battery_low_min (%g min)",
                       name_of_pair(p, KEY_BATTERY_DEPLETED, KEY_BATTERY_LOW),
                       (double) c->battery_depleted_s / 60, (double) c->battery_low_s / 60);

        if (p->key_ok[KEY_SYRINGE_FILL] && p->key_ok[KEY_SYRINGE_VOLUME] && c->syringe_fill_nl > c->syringe_volume_nl)
                config_report(p, line_of_pair(p, KEY_SYRINGE_FILL, KEY_SYRINGE_VOLUME),
                       "%s: syringe_fill_ml (%g mL) is more than the syringe holds (syringe_volume_ml %g mL)",
                       name_of_pair(p, KEY_SYRINGE_FILL, KEY_SYRINGE_VOLUME),
                       units_nl_to_ml(c->syringe_fill_nl), units_nl_to_ml(c->syringe_volume_nl));

        /* 0 turns the size limit off. A limit must leave room for the
         * drug library, the schema and the last 48 hours, which retention
         * never prunes: 16 MB does with a wide margin. */
        if (p->key_ok[KEY_DATABASE_MAX_SIZE] && c->database_max_size_bytes > 0 &&
            c->database_max_size_bytes < 16 * 1024 * 1024)
                config_report(p, p->key_line[KEY_DATABASE_MAX_SIZE],
                       "max_size_mb: \"%g\" is out of range (allowed: 0 for no size limit, or 16 to 1048576 MB)",
                       (double) c->database_max_size_bytes / (1024 * 1024));

        bool geometry_ok = true;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == SECTION_MECHANISM && !p->key_ok[i])
                        geometry_ok = false;
        struct mechanism m;
        if (geometry_ok && mechanism_from_geometry(&c->geometry, &m) < 0)
                config_report(p, 0, "[mechanism]: this geometry moves less than 1 pL per microstep; "
                       "use fewer steps_per_rev or microsteps, or a larger lead_pitch_mm or syringe_inner_diameter_mm");

        config_check_hardware(p);
}

struct config *config_free(struct config *c) {
        if (!c)
                return NULL;

        free(c->path);
        free(c->backend);
        free(c->drive);
        free(c->sensors);
        free(c->inputs);
        free(c->outputs);
        free(c->power);
        free(c->stepper.chip);
        free(c->stepper.driver);
        free(c->dc_motor.pwm_chip);
        free(c->dc_motor.chip);
        free(c->inputs_chip);
        free(c->outputs_chip);
        free(c->buzzer_pwm_chip);
        for (size_t i = 0; i < ELEMENTSOF(c->sensor); i++) {
                free(c->sensor[i].device);
                free(c->sensor[i].channel);
        }
        free(c->power_battery);
        free(c->power_mains);
        free(c->power_discharge_table);
        free(c->database_path);
        free(c->step_log_path);
        free(c->plunger_file_path);
        free(c);
        return NULL;
}

static void freelocalep(locale_t *l) {
        if (*l)
                freelocale(*l);
}

static int parse(const char *name, FILE *file, const char *text, FILE *err, struct config **ret) {
        _cleanup_(config_freep) struct config *c = NULL;
        _cleanup_(freelocalep) locale_t c_locale = (locale_t) 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->path = strdup(name);
        if (!c->path)
                return -ENOMEM;

        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t) 0);
        if (!c_locale)
                return -errno;

        struct parser p = {
                .name = name,
                .err = err,
                .config = c,
                .c_locale = c_locale,
                .file = file,
                .text = text,
                .section = SECTION_NONE,
        };

        /* The handler always returns nonzero: a bad value is reported and
         * the parse goes on, so every problem is reported in one pass. */
        int r = ini_parse_stream(reader, &p, handler, &p);
        check_key_line_handled(&p);
        if (r == -2 || p.out_of_memory)
                return -ENOMEM;
        if (r > 0 && (unsigned) r != p.first_refused_key_line) {
                /* The reader should have flagged every line libinih refuses;
                 * if one slipped past it, still never accept the file. */
                p.line = (unsigned) r;
                config_report(&p, p.line, "syntax error");
        }
        if (p.read_errno > 0) {
                config_report(&p, 0, "cannot read: %s", strerror(p.read_errno));
                return -p.read_errno;
        }

        check_missing_and_apply_defaults(&p);
        if (p.out_of_memory)
                return -ENOMEM;
        check_across_keys(&p);

        if (p.n_errors > 0)
                return -EINVAL;

        *ret = TAKE_PTR(c);
        return 0;
}

int config_load(const char *path, FILE *err, struct config **ret) {
        _cleanup_(fclosep) FILE *f = NULL;

        f = fopen(path, "re");
        if (!f) {
                int r = -errno;
                if (err)
                        fprintf(err, "%s: cannot open: %s\n", path, strerror(-r));
                return r;
        }

        return parse(path, f, NULL, err, ret);
}

bool config_error_needs_a_person(int r) {
        switch (-r) {
        case EINVAL:            /* a bad key, value or section */
        case ENOENT:
        case ENOTDIR:
        case EISDIR:
        case ELOOP:
        case ENAMETOOLONG:
        case EACCES:
        case EPERM:
                return true;
        default:                /* ENOMEM, EMFILE, ENFILE, EIO, EINTR, ... */
                return false;
        }
}

int config_load_string(const char *name, const char *text, FILE *err, struct config **ret) {
        return parse(name, NULL, text, err, ret);
}
