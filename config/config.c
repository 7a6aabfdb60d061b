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
#include "common/units.h"
#include "core/mechanism.h"

/* Not (yet) in common/macros.h. */
#define _printf_(a, b) __attribute__((format(printf, a, b)))

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

enum section {
        SECTION_PUMP,
        SECTION_MECHANISM,
        SECTION_LIMITS,
        SECTION_DATABASE,
        SECTION_ALARMS,
        SECTION_SIMULATION,
        _SECTION_MAX,
        /* Parser states, not sections. */
        SECTION_NONE = -1,      /* no header seen yet */
        SECTION_IGNORED = -2,   /* unknown or malformed header, already reported */
};

static const char *const section_names[_SECTION_MAX] = {
        [SECTION_PUMP] = "pump",
        [SECTION_MECHANISM] = "mechanism",
        [SECTION_LIMITS] = "limits",
        [SECTION_DATABASE] = "database",
        [SECTION_ALARMS] = "alarms",
        [SECTION_SIMULATION] = "simulation",
};

enum value_kind {
        VALUE_BACKEND,          /* char *, one of backends_supported[] */
        VALUE_PATH,             /* char *, not empty */
        VALUE_CLOCK,            /* enum config_clock */
        VALUE_INT,              /* int64_t, whole number min..max */
        VALUE_MICROSTEPS,       /* int64_t, a power of two 1..256 */
        VALUE_SEED,             /* uint64_t, any */
        VALUE_ML,               /* int64_t nL (or nL/h) from mL (or mL/h), min..max */
        VALUE_SCALED,           /* int64_t value * scale (mm -> µm, ms -> µs), min..max */
        VALUE_DOUBLE,           /* double value * scale, min..max */
        VALUE_BOOL,             /* bool: yes/no, true/false, on/off, 1/0 */
};

struct key {
        enum section section;
        const char *name;
        enum value_kind kind;
        /* Text of the default, parsed exactly like a value from the file so
         * a default cannot escape the range check. NULL: required. */
        const char *default_value;
        double min, max;        /* in the unit the file is written in */
        const char *unit;       /* that unit, for messages */
        double scale;           /* file unit -> stored unit */
        const char *stored_unit;/* for the resolution message */
        size_t offset;          /* into struct config */
};

enum key_id {
        KEY_BACKEND,
        KEY_LEAD_PITCH,
        KEY_STEPS_PER_REV,
        KEY_MICROSTEPS,
        KEY_SYRINGE_DIAMETER,
        KEY_SYRINGE_VOLUME,
        KEY_MAX_STEP_RATE,
        KEY_MAX_RATE,
        KEY_MAX_VTBI,
        KEY_KVO_RATE,
        KEY_MAX_KVO_RATE, KEY_PCA_BOLUS_RATE,
        KEY_LEASE,
        KEY_CONTROL_PERIOD,
        KEY_CHECKPOINT_PERIOD,
        KEY_DATABASE_PATH,
        KEY_ESCALATE_AFTER,
        KEY_IDLE_ALERT,
        KEY_IDLE_ALARM,
        KEY_NEAR_END,
        KEY_OCCLUSION_LIMIT,
        KEY_OCCLUSION_TREND,
        KEY_OCCLUSION_AUTO_RESTARTS,
        KEY_AIR_BUBBLE,
        KEY_AIR_ACCUMULATED,
        KEY_AIR_WINDOW,
        KEY_ACCURACY_TOLERANCE,
        KEY_BATTERY_LOW,
        KEY_BATTERY_DEPLETED,
        KEY_CLOCK,
        KEY_SEED,
        KEY_LINE_COMPLIANCE,
        KEY_LINE_RESISTANCE,
        KEY_PATIENT_PRESSURE,
        KEY_PRESSURE_NOISE,
        KEY_MOVEMENT_AMPLITUDE,
        KEY_MOVEMENT_INTERVAL,
        KEY_POSITION_NOISE,
        KEY_BATTERY_RUNTIME,
        KEY_SYRINGE_FILL,
        _KEY_MAX,
};

#define FIELD(f) offsetof(struct config, f)

/* The whole file format. sim.conf documents the same table for people. */
static const struct key keys[_KEY_MAX] = {
        [KEY_BACKEND] = { SECTION_PUMP, "backend", VALUE_BACKEND, NULL,
                0, 0, NULL, 1, NULL, FIELD(backend) },

        [KEY_LEAD_PITCH] = { SECTION_MECHANISM, "lead_pitch_mm", VALUE_SCALED, NULL,
                0.1, 20, "mm", 1000, "µm", FIELD(geometry.lead_pitch_um) },
        [KEY_STEPS_PER_REV] = { SECTION_MECHANISM, "steps_per_rev", VALUE_INT, NULL,
                1, 100000, "full steps", 1, NULL, FIELD(geometry.steps_per_rev) },
        [KEY_MICROSTEPS] = { SECTION_MECHANISM, "microsteps", VALUE_MICROSTEPS, NULL,
                1, 256, NULL, 1, NULL, FIELD(geometry.microsteps) },
        [KEY_SYRINGE_DIAMETER] = { SECTION_MECHANISM, "syringe_inner_diameter_mm", VALUE_SCALED, NULL,
                1, 60, "mm", 1000, "µm", FIELD(geometry.syringe_inner_diameter_um) },
        [KEY_SYRINGE_VOLUME] = { SECTION_MECHANISM, "syringe_volume_ml", VALUE_ML, NULL,
                0.5, 1000, "mL", NL_PER_ML, "nL", FIELD(syringe_volume_nl) },
        [KEY_MAX_STEP_RATE] = { SECTION_MECHANISM, "max_step_rate_hz", VALUE_INT, "5000",
                1, 100000, "Hz", 1, NULL, FIELD(geometry.max_step_rate_hz) },

        [KEY_MAX_RATE] = { SECTION_LIMITS, "max_rate_ml_per_h", VALUE_ML, "1200",
                0.01, 9999, "mL/h", NL_PER_ML, "nL/h", FIELD(max_rate_nl_per_h) },
        [KEY_MAX_VTBI] = { SECTION_LIMITS, "max_vtbi_ml", VALUE_ML, "9999",
                0.001, 9999, "mL", NL_PER_ML, "nL", FIELD(max_vtbi_nl) },
        [KEY_KVO_RATE] = { SECTION_LIMITS, "kvo_rate_ml_per_h", VALUE_ML, "1.0",
                0, 20, "mL/h", NL_PER_ML, "nL/h", FIELD(kvo_rate_nl_per_h) },
        [KEY_MAX_KVO_RATE] = { SECTION_LIMITS, "max_kvo_rate_ml_per_h", VALUE_ML, "20",
                0, 50, "mL/h", NL_PER_ML, "nL/h", FIELD(max_kvo_rate_nl_per_h) },
        [KEY_PCA_BOLUS_RATE] = { SECTION_LIMITS, "pca_bolus_rate_ml_per_h", VALUE_ML, "60",
                1, 1200, "mL/h", NL_PER_ML, "nL/h", FIELD(pca_bolus_rate_nl_per_h) },
        [KEY_LEASE] = { SECTION_LIMITS, "lease_ms", VALUE_SCALED, "500",
                20, 5000, "ms", US_PER_MS, "µs", FIELD(lease_us) },
        [KEY_CONTROL_PERIOD] = { SECTION_LIMITS, "control_period_ms", VALUE_SCALED, "100",
                5, 1000, "ms", US_PER_MS, "µs", FIELD(control_period_us) },
        [KEY_CHECKPOINT_PERIOD] = { SECTION_LIMITS, "checkpoint_period_ms", VALUE_SCALED, "1000",
                100, 60000, "ms", US_PER_MS, "µs", FIELD(checkpoint_period_us) },

        [KEY_DATABASE_PATH] = { SECTION_DATABASE, "path", VALUE_PATH, NULL,
                0, 0, NULL, 1, NULL, FIELD(database_path) },

        /* Alarm timing and detector limits; CLINICAL.md gives the figures. */
        [KEY_ESCALATE_AFTER] = { SECTION_ALARMS, "escalate_after_s", VALUE_SCALED, "120",
                10, 600, "s", US_PER_SEC, "µs", FIELD(escalate_after_us) },
        [KEY_IDLE_ALERT] = { SECTION_ALARMS, "idle_alert_s", VALUE_SCALED, "120",
                10, 3600, "s", US_PER_SEC, "µs", FIELD(idle_alert_us) },
        [KEY_IDLE_ALARM] = { SECTION_ALARMS, "idle_alarm_s", VALUE_SCALED, "300",
                20, 7200, "s", US_PER_SEC, "µs", FIELD(idle_alarm_us) },
        [KEY_NEAR_END] = { SECTION_ALARMS, "near_end_min", VALUE_SCALED, "5",
                0, 60, "min", US_PER_MIN, "µs", FIELD(near_end_us) },
        [KEY_OCCLUSION_LIMIT] = { SECTION_ALARMS, "occlusion_limit_mmhg", VALUE_DOUBLE, "300",
                50, 1000, "mmHg", 1, NULL, FIELD(occlusion_limit_mmhg) },
        [KEY_OCCLUSION_TREND] = { SECTION_ALARMS, "occlusion_trend", VALUE_BOOL, "yes",
                0, 0, NULL, 1, NULL, FIELD(occlusion_trend) },
        [KEY_OCCLUSION_AUTO_RESTARTS] = { SECTION_ALARMS, "occlusion_auto_restarts", VALUE_INT, "0",
                0, 9, "per 10 min", 1, NULL, FIELD(occlusion_auto_restarts) },
        [KEY_AIR_BUBBLE] = { SECTION_ALARMS, "air_bubble_ul", VALUE_SCALED, "100",
                20, 200, "µL", 1000, "nL", FIELD(air_bubble_nl) },
        [KEY_AIR_ACCUMULATED] = { SECTION_ALARMS, "air_accumulated_ul", VALUE_SCALED, "500",
                50, 5000, "µL", 1000, "nL", FIELD(air_accumulated_nl) },
        [KEY_AIR_WINDOW] = { SECTION_ALARMS, "air_window_min", VALUE_SCALED, "15",
                1, 60, "min", US_PER_MIN, "µs", FIELD(air_window_us) },
        [KEY_ACCURACY_TOLERANCE] = { SECTION_ALARMS, "accuracy_tolerance_pct", VALUE_DOUBLE, "10",
                2, 50, "%", 1, NULL, FIELD(accuracy_tolerance_pct) },
        [KEY_BATTERY_LOW] = { SECTION_ALARMS, "battery_low_min", VALUE_SCALED, "15",
                2, 120, "min", 60, "s", FIELD(battery_low_s) },
        [KEY_BATTERY_DEPLETED] = { SECTION_ALARMS, "battery_depleted_min", VALUE_SCALED, "5",
                1, 60, "min", 60, "s", FIELD(battery_depleted_s) },

        [KEY_CLOCK] = { SECTION_SIMULATION, "clock", VALUE_CLOCK, "real",
                0, 0, NULL, 1, NULL, FIELD(clock) },
        [KEY_SEED] = { SECTION_SIMULATION, "seed", VALUE_SEED, "1",
                0, 0, NULL, 1, NULL, FIELD(seed) },
        [KEY_LINE_COMPLIANCE] = { SECTION_SIMULATION, "line_compliance_ul_per_mmhg", VALUE_DOUBLE, "1.4",
                0.01, 100, "µL/mmHg", 1000, NULL, FIELD(line_compliance_nl_per_mmhg) },
        [KEY_LINE_RESISTANCE] = { SECTION_SIMULATION, "line_resistance_mmhg_per_ml_per_h", VALUE_DOUBLE, "0.3",
                0.001, 100, "mmHg per mL/h", 1, NULL, FIELD(line_resistance_mmhg_per_ml_per_h) },
        [KEY_PATIENT_PRESSURE] = { SECTION_SIMULATION, "patient_pressure_mmhg", VALUE_DOUBLE, "8",
                -50, 300, "mmHg", 1, NULL, FIELD(patient_pressure_mmhg) },
        [KEY_PRESSURE_NOISE] = { SECTION_SIMULATION, "pressure_noise_mmhg", VALUE_DOUBLE, "0.5",
                0, 50, "mmHg", 1, NULL, FIELD(pressure_noise_mmhg) },
        [KEY_MOVEMENT_AMPLITUDE] = { SECTION_SIMULATION, "movement_amplitude_mmhg", VALUE_DOUBLE, "0",
                0, 100, "mmHg", 1, NULL, FIELD(movement_amplitude_mmhg) },
        [KEY_MOVEMENT_INTERVAL] = { SECTION_SIMULATION, "movement_mean_interval_s", VALUE_DOUBLE, "120",
                5, 86400, "s", 1, NULL, FIELD(movement_mean_interval_s) },
        [KEY_POSITION_NOISE] = { SECTION_SIMULATION, "position_noise_mm", VALUE_DOUBLE, "0.005",
                0, 1, "mm", 1, NULL, FIELD(position_noise_mm) },
        [KEY_BATTERY_RUNTIME] = { SECTION_SIMULATION, "battery_runtime_min", VALUE_DOUBLE, "240",
                10, 2880, "min", 1, NULL, FIELD(battery_runtime_min) },
        [KEY_SYRINGE_FILL] = { SECTION_SIMULATION, "syringe_fill_ml", VALUE_ML, "0",
                0, 1000, "mL", NL_PER_ML, "nL", FIELD(syringe_fill_nl) },
};

static const char *const backends_supported[] = { "sim" };
/* Named so the message can say "not yet" instead of "unknown". */
static const char *const backends_planned[] = { "gpiod" };

struct parser {
        const char *name;       /* what messages call the file */
        FILE *err;
        struct config *config;
        locale_t c_locale;

        /* The source: a FILE, or a string consumed as we go. */
        FILE *file;
        const char *text;

        unsigned line;          /* of the line the reader handed out last */
        int section;            /* enum section, SECTION_NONE or SECTION_IGNORED */
        bool key_line_pending;  /* last line was "key = value" and the handler has not run */
        unsigned first_refused_key_line;        /* what libinih will return */
        unsigned n_errors;
        bool out_of_memory;
        int read_errno;         /* from the FILE source, 0 if none */

        unsigned key_line[ELEMENTSOF(keys)];    /* 0: not in the file */
        bool key_ok[ELEMENTSOF(keys)];          /* parsed (or defaulted) without error */
};

_printf_(3, 4)
static void report(struct parser *p, unsigned line, const char *format, ...) {
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
        report(p, p->line, "syntax error: %s", what);
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

/* Parse value for key k, store it in p->config. line 0: a default. */
static int parse_value(struct parser *p, const struct key *k, const char *value, unsigned line) {
        void *field = (uint8_t *) p->config + k->offset;
        char range[128];
        int r;

        describe_range(k, range, sizeof(range));

        switch (k->kind) {
        case VALUE_BACKEND: {
                char allowed[64];

                join(allowed, sizeof(allowed), backends_supported, ELEMENTSOF(backends_supported));
                if (in_list(value, backends_planned, ELEMENTSOF(backends_planned))) {
                        report(p, line, "%s: \"%s\" is not supported yet (allowed: %s)", k->name, value, allowed);
                        return -EOPNOTSUPP;
                }
                if (!in_list(value, backends_supported, ELEMENTSOF(backends_supported))) {
                        report(p, line, "%s: \"%s\" is not a known backend (allowed: %s)", k->name, value, allowed);
                        return -EINVAL;
                }
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                free(*(char **) field);
                *(char **) field = s;
                return 0;
        }

        case VALUE_PATH: {
                if (!*value) {
                        report(p, line, "%s: empty (required: a file name)", k->name);
                        return -EINVAL;
                }
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                free(*(char **) field);
                *(char **) field = s;
                return 0;
        }

        case VALUE_CLOCK:
                if (streq(value, "real"))
                        *(enum config_clock *) field = CONFIG_CLOCK_REAL;
                else if (streq(value, "virtual"))
                        *(enum config_clock *) field = CONFIG_CLOCK_VIRTUAL;
                else {
                        report(p, line, "%s: \"%s\" is not allowed (allowed: real, virtual)", k->name, value);
                        return -EINVAL;
                }
                return 0;

        case VALUE_INT:
        case VALUE_MICROSTEPS: {
                if (!*value) {
                        report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return -EINVAL;
                }
                if (!is_whole_number(value, true)) {
                        report(p, line, "%s: \"%s\" is not a whole number (allowed: %s)", k->name, value, range);
                        return -EINVAL;
                }
                errno = 0;
                long long v = strtoll(value, NULL, 10);
                bool ok = errno == 0 && v >= (long long) k->min && v <= (long long) k->max;
                /* A power of two: what stepper drivers offer. */
                if (ok && k->kind == VALUE_MICROSTEPS)
                        ok = (v & (v - 1)) == 0;
                if (!ok) {
                        report(p, line, "%s: \"%s\" is %s (allowed: %s)", k->name, value,
                               k->kind == VALUE_MICROSTEPS ? "not allowed" : "out of range", range);
                        return -ERANGE;
                }
                *(int64_t *) field = v;
                return 0;
        }

        case VALUE_SEED: {
                if (!*value) {
                        report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return -EINVAL;
                }
                if (!is_whole_number(value, false)) {
                        report(p, line, "%s: \"%s\" is not a whole number (allowed: %s)", k->name, value, range);
                        return -EINVAL;
                }
                errno = 0;
                unsigned long long v = strtoull(value, NULL, 10);
                if (errno != 0) {
                        report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
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
                        report(p, line, "%s: \"%s\" is not allowed (allowed: %s)", k->name, value, range);
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
                                report(p, line, "%s: \"%s\" is not a number (allowed: %s)", k->name, value, range);
                        else
                                report(p, line, "%s: empty (allowed: %s)", k->name, range);
                        return r;
                }

                if (k->kind == VALUE_DOUBLE) {
                        if (r < 0 || d < k->min || d > k->max) {
                                report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
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
                        report(p, line, "%s: \"%s\" is out of range (allowed: %s)", k->name, value, range);
                        return -ERANGE;
                }
                if (!is_whole_after_scaling(d, k->scale, stored)) {
                        report(p, line, "%s: \"%s\" is finer than the resolution of 1 %s (allowed: %s)",
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
                        return;
                }

        char known[128];
        join(known, sizeof(known), section_names, _SECTION_MAX);
        report(p, p->line, "[%s]: unknown section (known: %s)", name, known);
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
                report(p, p->line, "%s: outside any section (sections: %s)", name, known);
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
                report(p, p->line, "%s: unknown key in [%s] (known: %s)",
                       name, section_names[p->section], known);
                return 1;
        }

        if (p->key_line[i] > 0) {
                report(p, p->line, "%s: duplicate (first set on line %u)", name, p->key_line[i]);
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

static void check_missing_and_apply_defaults(struct parser *p) {
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const struct key *k = &keys[i];

                if (p->key_line[i] > 0)
                        continue;
                if (!k->default_value) {
                        report(p, 0, "[%s] %s: missing (required)", section_names[k->section], k->name);
                        continue;
                }
                int r = parse_value(p, k, k->default_value, 0);
                if (r == -ENOMEM)
                        p->out_of_memory = true;
                p->key_ok[i] = r >= 0;
        }
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
                report(p, line_of_pair(p, KEY_KVO_RATE, KEY_MAX_KVO_RATE),
                       "%s: kvo_rate_ml_per_h (%g mL/h) is above max_kvo_rate_ml_per_h (%g mL/h)",
                       name_of_pair(p, KEY_KVO_RATE, KEY_MAX_KVO_RATE),
                       units_nl_to_ml(c->kvo_rate_nl_per_h), units_nl_to_ml(c->max_kvo_rate_nl_per_h));

        /* The lease must outlive two missed control ticks, so one late tick
         * (a slow database write, a busy bus) never stops the motor. */
        if (p->key_ok[KEY_LEASE] && p->key_ok[KEY_CONTROL_PERIOD] &&
            c->control_period_us * 3 > c->lease_us)
                report(p, line_of_pair(p, KEY_CONTROL_PERIOD, KEY_LEASE),
                       "%s: control_period_ms (%g ms) is more than a third of lease_ms (%g ms): "
                       "two missed control ticks would let the lease lapse",
                       name_of_pair(p, KEY_CONTROL_PERIOD, KEY_LEASE),
                       (double) c->control_period_us / US_PER_MS, (double) c->lease_us / US_PER_MS);

        /* The alert comes first, then the alarm; low battery before depleted. */
        if (p->key_ok[KEY_IDLE_ALERT] && p->key_ok[KEY_IDLE_ALARM] && c->idle_alarm_us <= c->idle_alert_us)
                report(p, line_of_pair(p, KEY_IDLE_ALERT, KEY_IDLE_ALARM),
                       "%s: idle_alarm_s (%g s) must be longer than idle_alert_s (%g s)",
                       name_of_pair(p, KEY_IDLE_ALERT, KEY_IDLE_ALARM),
                       (double) c->idle_alarm_us / US_PER_SEC, (double) c->idle_alert_us / US_PER_SEC);
        if (p->key_ok[KEY_BATTERY_LOW] && p->key_ok[KEY_BATTERY_DEPLETED] &&
            c->battery_depleted_s >= c->battery_low_s)
                report(p, line_of_pair(p, KEY_BATTERY_DEPLETED, KEY_BATTERY_LOW),
                       "%s: battery_depleted_min (%g min) must be less than battery_low_min (%g min)",
                       name_of_pair(p, KEY_BATTERY_DEPLETED, KEY_BATTERY_LOW),
                       (double) c->battery_depleted_s / 60, (double) c->battery_low_s / 60);

        if (p->key_ok[KEY_SYRINGE_FILL] && p->key_ok[KEY_SYRINGE_VOLUME] && c->syringe_fill_nl > c->syringe_volume_nl)
                report(p, line_of_pair(p, KEY_SYRINGE_FILL, KEY_SYRINGE_VOLUME),
                       "%s: syringe_fill_ml (%g mL) is more than the syringe holds (syringe_volume_ml %g mL)",
                       name_of_pair(p, KEY_SYRINGE_FILL, KEY_SYRINGE_VOLUME),
                       units_nl_to_ml(c->syringe_fill_nl), units_nl_to_ml(c->syringe_volume_nl));

        bool geometry_ok = true;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (keys[i].section == SECTION_MECHANISM && !p->key_ok[i])
                        geometry_ok = false;
        struct mechanism m;
        if (geometry_ok && mechanism_from_geometry(&c->geometry, &m) < 0)
                report(p, 0, "[mechanism]: this geometry moves less than 1 pL per microstep; "
                       "use fewer steps_per_rev or microsteps, or a larger lead_pitch_mm or syringe_inner_diameter_mm");
}

struct config *config_free(struct config *c) {
        if (!c)
                return NULL;

        free(c->path);
        free(c->backend);
        free(c->database_path);
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
                report(&p, p.line, "syntax error");
        }
        if (p.read_errno > 0) {
                report(&p, 0, "cannot read: %s", strerror(p.read_errno));
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

int config_load_string(const char *name, const char *text, FILE *err, struct config **ret) {
        return parse(name, NULL, text, err, ret);
}
