/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"
#include "common/utf8.h"
#include "daemon/bus.h"
#include "daemon/bus-program.h"
#include "db/db.h"
#include "safety/pca-check.h"
#include "safety/pca.h"


/* Largest magnitude we convert before the channel judges the value: wide
 * enough that "-1" or "1e4" reach the channel and get its precise
 * message, narrow enough that no conversion can overflow. */
#define PARSE_LIMIT_NL (INT64_C(1000000) * NL_PER_ML)

enum key_id {
        KEY_MODE, KEY_RATE, KEY_VTBI, KEY_KVO, KEY_DURATION, KEY_LOADING_VOLUME, KEY_LOADING_RATE,
        KEY_DOSE_VOLUME, KEY_INTERVAL, KEY_DOSES, KEY_STEPS,
        KEY_CARE_AREA, KEY_DRUG, KEY_CONCENTRATION, KEY_DOSE_RATE, KEY_DOSE_UNIT, KEY_WEIGHT, KEY_HEIGHT,
        KEY_CONFIRM, KEY_REASON, KEY_RAMP_UP, KEY_RAMP_DOWN, KEY_OCCLUSION_LIMIT,
        KEY_PCA_DOSE_ML, KEY_PCA_DOSE, KEY_LOCKOUT, KEY_MAX_DOSES, KEY_LIMIT_ML, KEY_LIMIT_DOSE, KEY_LIMIT_WINDOW,
        KEY_BASAL_ML, KEY_BASAL_DOSE, KEY_LOADING_DOSE_ML, KEY_LOADING_DOSE, KEY_PCA_BOLUS_RATE, KEY_LIMIT_KVO,
        KEY_NEW_PATIENT, _KEY_MAX,
};

/* Every Program key: its D-Bus type, and for each mode whether it is
 * required (R), optional (O) or does not apply (-). A key that does not
 * apply is refused rather than ignored: a clinician who sent it meant
 * something. Mode order: continuous, volume-time, multistep, loading,
 * intermittent, ramp, pca. */
static const struct {
        const char *name;
        const char *type;
        const char modes[_PROGRAM_MODE_MAX + 1];
} keys[_KEY_MAX] = {
        [KEY_MODE]           = { "Mode",                 "s",     "OOOOOOO" },
        [KEY_RATE]           = { "RateMlPerHour",        "d",     "O--R---" },   /* continuous: or DoseRate */
        [KEY_VTBI]           = { "VtbiMl",               "d",     "RR-R-RR" },
        [KEY_KVO]            = { "KvoRateMlPerHour",     "d",     "OOOOOO-" },
        [KEY_DURATION]       = { "DurationSec",          "u",     "-R--RR-" },
        [KEY_LOADING_VOLUME] = { "LoadingVolumeMl",      "d",     "---R---" },
        [KEY_LOADING_RATE]   = { "LoadingRateMlPerHour", "d",     "---R---" },
        [KEY_DOSE_VOLUME]    = { "DoseVolumeMl",         "d",     "----R--" },
        [KEY_INTERVAL]       = { "IntervalSec",          "u",     "----R--" },
        [KEY_DOSES]          = { "Doses",                "u",     "----R--" },
        [KEY_STEPS]          = { "Steps",                "a(dd)", "--R----" },
        [KEY_CARE_AREA]      = { "CareArea",             "s",     "OOOOOOO" },
        [KEY_DRUG]           = { "Drug",                 "s",     "OOOOOOO" },
        [KEY_CONCENTRATION]  = { "Concentration",        "u",     "OOOOOOO" },      /* or (dsd), see below */
        [KEY_DOSE_RATE]      = { "DoseRate",             "d",     "O------" },
        [KEY_DOSE_UNIT]      = { "DoseRateUnit",         "s",     "O------" },
        [KEY_WEIGHT]         = { "PatientWeightKg",      "d",     "OOOOOOO" },
        [KEY_HEIGHT]         = { "PatientHeightCm",      "d",     "OOOOOOO" },
        [KEY_CONFIRM]        = { "ConfirmSoftLimits",    "b",     "OOOOOOO" },
        [KEY_REASON]         = { "OverrideReason",       "s",     "OOOOOOO" },
        [KEY_RAMP_UP]        = { "RampUpSec",            "u",     "-----R-" },
        [KEY_RAMP_DOWN]      = { "RampDownSec",          "u",     "-----R-" },
        [KEY_OCCLUSION_LIMIT] = { "OcclusionLimitMmHg",  "d",     "OOOOOOO" },
        /* pca: each volume in mL, or as an amount in the library's PCA unit */
        [KEY_PCA_DOSE_ML]    = { "PcaDoseMl",            "d",     "------O" },   /* pca: or PcaDose */
        [KEY_PCA_DOSE]       = { "PcaDose",              "d",     "------O" },
        [KEY_LOCKOUT]        = { "LockoutSec",           "u",     "------R" },
        [KEY_MAX_DOSES]      = { "MaxDosesPerHour",      "u",     "------R" },
        [KEY_LIMIT_ML]       = { "LimitMl",              "d",     "------O" },   /* pca: or LimitDose */
        [KEY_LIMIT_DOSE]     = { "LimitDose",            "d",     "------O" },
        [KEY_LIMIT_WINDOW]   = { "LimitWindowSec",       "u",     "------R" },
        [KEY_BASAL_ML]       = { "BasalRateMlPerHour",   "d",     "------O" },
        [KEY_BASAL_DOSE]     = { "BasalDose",            "d",     "------O" },
        [KEY_LOADING_DOSE_ML] = { "LoadingDoseMl",       "d",     "------O" },
        [KEY_LOADING_DOSE]   = { "LoadingDose",          "d",     "------O" },
        [KEY_PCA_BOLUS_RATE] = { "PcaBolusRateMlPerHour", "d",    "------O" },
        [KEY_LIMIT_KVO]      = { "LimitKvoRateMlPerHour", "d",    "------O" },
        [KEY_NEW_PATIENT]    = { "NewPatient",           "b",     "------O" },
};

static int invalid(struct pump_error *perr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int invalid(struct pump_error *perr, const char *fmt, ...) {
        va_list ap;
        perr->name = PUMP_ERROR_INVALID_ARGUMENT;
        va_start(ap, fmt);
        vsnprintf(perr->message, sizeof(perr->message), fmt, ap);
        va_end(ap);
        /* The messages quote the caller's strings cut short ("%.32s"),
         * which can split a character: made whole here, like every other
         * pump_error, so no path (journal, audit, reply) meets half of one. */
        utf8_scrub(perr->message);
        return -EINVAL;
}

static int ml_to_nl(const char *name, double value, int64_t *ret, const struct pump *pump, struct pump_error *perr) {
        if (!isfinite(value))
                return invalid(perr, "%s must be a finite number, not %g", name, value);
        if (units_ml_to_nl(value, -PARSE_LIMIT_NL, PARSE_LIMIT_NL, ret) < 0)
                return invalid(perr, "%s %g is out of range (allowed: rates up to %.6g mL/h, volumes up to %.6g mL)",
                               name, value, units_nl_to_ml(pump_channel(pump)->limits.max_rate_nl_per_h),
                               units_nl_to_ml(pump_channel(pump)->limits.max_vtbi_nl));
        /* Refused, never rounded to nothing: -1e-300 mL/h is not "no KVO",
         * and 1e-300 mL is no volume. */
        if (*ret == 0 && value != 0)
                return invalid(perr, "%s %g is below the pump's resolution of 1 nL (0.000001 mL): give 0 or at least 0.000001",
                               name, value);
        return 0;
}

/* An override reason is read by pharmacy in reports and on terminals: one
 * line of printable text, a sentence long. An empty one is judged with the
 * limits (a soft limit needs a reason). */
#define OVERRIDE_REASON_MAX 256

/* Characters that show nothing: spaces of every width, zero-width and
 * joining characters, direction marks, invisible operators, the BOM,
 * variation selectors, and the Hangul and Braille fillers. */
static bool is_invisible(uint32_t c) {
        return c == 0x20 || c == 0xa0 || c == 0xad || c == 0x34f || c == 0x115f || c == 0x1160 ||
               c == 0x1680 || c == 0x180e || (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
               (c >= 0x205f && c <= 0x206f) || c == 0x2800 || c == 0x3000 || c == 0x3164 ||
               (c >= 0xfe00 && c <= 0xfe0f) || c == 0xfeff || c == 0xffa0;
}

/* Whether s shows nothing at all: a reason made of invisible characters
 * would pass for a reason and tell pharmacy nothing. */
static bool is_blank(const char *s) {
        while (*s)
                if (!is_invisible(utf8_next(&s)))
                        return false;
        return true;
}

static int check_override_reason(const char *s, struct pump_error *perr) {
        size_t n = strlen(s);
        if (n > OVERRIDE_REASON_MAX)
                return invalid(perr, "OverrideReason is %zu bytes long (allowed: up to %d)", n, OVERRIDE_REASON_MAX);
        /* A blank reason would pass for a given one and tell pharmacy
         * nothing; refused here rather than read as "no reason", so the
         * caller learns why. */
        if (n > 0 && is_blank(s))
                return invalid(perr, "OverrideReason is blank (allowed: a reason in words, which pharmacy reads)");
        for (size_t i = 0; i < n; i++) {
                unsigned char c = s[i], next = s[i + 1];
                /* C0 controls and DEL, and C1 controls (U+0080 to U+009F,
                 * 0xC2 0x80-0x9F in UTF-8): a terminal acts on both. */
                if (c < 0x20 || c == 0x7f || (c == 0xc2 && next >= 0x80 && next <= 0x9f))
                        return invalid(perr, "OverrideReason has a control character (0x%02x) at byte %zu "
                                       "(allowed: one line of printable text)", c == 0xc2 ? next : c, i);
        }
        return 0;
}

static int read_steps(sd_bus_message *m, struct program *prog, const struct pump *pump, struct pump_error *perr) {
        double rate, volume;
        int r = sd_bus_message_enter_container(m, 'a', "(dd)");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "(dd)", &rate, &volume)) > 0) {
                if (prog->n_steps >= PROGRAM_MAX_STEPS)
                        return invalid(perr, "Steps has more than %d entries", PROGRAM_MAX_STEPS);
                struct program_step *st = &prog->steps[prog->n_steps++];
                if (ml_to_nl("Steps rate", rate, &st->rate_nl_per_h, pump, perr) < 0 ||
                    ml_to_nl("Steps volume", volume, &st->volume_nl, pump, perr) < 0)
                        return -EINVAL;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

/* Read a{sv} into prog. Every key must be known, of its type, valid for
 * the mode, finite and in range, and given once. On error nothing is
 * used: the caller does not touch the channel. Returns a negative errno
 * from sd-bus for a message that is not a{sv} at all. */
/* A PCA volume: mL (converted here) or an amount in the library's unit
 * (converted by the pump, which knows the concentration). */
static int pca_volume(const char *name, double d, bool amount, struct pca_volume *ret, const struct pump *pump,
                      struct pump_error *perr) {
        if (!isfinite(d) || d <= 0)
                return invalid(perr, "%s must be a finite number above 0, not %g", name, d);
        if (amount) {
                ret->as_amount = true;
                ret->amount = d;
                return 0;
        }
        return ml_to_nl(name, d, &ret->nl, pump, perr);
}

static void list_keys(char *buf, size_t size) {
        size_t used = 0;
        for (unsigned i = 0; i < _KEY_MAX && used < size; i++)
                used += snprintf(buf + used, size - used, "%s%s", i ? ", " : "", keys[i].name);
}

static int parse_program(sd_bus_message *m, const struct pump *pump, struct program *prog,
                         struct ders_request *req, struct pca_program *pca, struct pump_error *perr, char *args,
                         size_t args_size) {
        bool seen[_KEY_MAX] = {};
        size_t used = 0;
        int r;

        *prog = (struct program) { .mode = PROGRAM_CONTINUOUS, .kvo_rate_nl_per_h = pump_default_kvo_rate_nl_per_h(pump) };
        *req = (struct ders_request) { .concentration = -1 };
        *pca = (struct pca_program) { .limit_kvo_nl_per_h = -1 };
        args[0] = 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;

        for (;;) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;

                enum key_id k = _KEY_MAX;
                for (unsigned i = 0; i < _KEY_MAX; i++)
                        if (strcmp(keys[i].name, key) == 0)
                                k = i;
                if (k == _KEY_MAX) {
                        char allowed[1024];
                        list_keys(allowed, sizeof(allowed));
                        return invalid(perr, "Unknown setting \"%.64s\" (allowed: %s)", key, allowed);
                }
                if (seen[k])
                        return invalid(perr, "Setting %s given twice", keys[k].name);
                seen[k] = true;

                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (k == KEY_CONCENTRATION && type == 'v' && streq(contents, "(dsd)")) {
                        /* The concentration by value: (amount, amount unit, volume mL). */
                        const char *amount_unit;
                        r = sd_bus_message_read(m, "v", "(dsd)", &req->strength.amount, &amount_unit,
                                                &req->strength.volume_ml);
                        if (r < 0)
                                return r;
                        if (dose_amount_parse(amount_unit, &req->strength.amount_unit) < 0)
                                return invalid(perr, "Concentration amount unit \"%.24s\" is not known (allowed: g, mg, mcg, ng, units, milliunits, mEq, mmol)",
                                               amount_unit);
                        req->have_strength = true;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        if (used < args_size)
                                used += snprintf(args + used, args_size - used, "%sConcentration=%g %s/%g mL", used ? " " : "",
                                                 req->strength.amount, amount_unit, req->strength.volume_ml);
                        continue;
                }
                if (type != 'v' || strcmp(contents, keys[k].type) != 0)
                        return invalid(perr, "%s must be of D-Bus type %s, not '%s'", keys[k].name,
                                       k == KEY_CONCENTRATION ? "u (an index) or (dsd) (amount, unit, volume mL)" : keys[k].type,
                                       contents);
                r = sd_bus_message_enter_container(m, 'v', keys[k].type);
                if (r < 0)
                        return r;

                double d = 0;
                uint32_t u = 0;
                int b = 0;
                const char *str = NULL;
                if (keys[k].type[0] == 'd')
                        r = sd_bus_message_read(m, "d", &d);
                else if (keys[k].type[0] == 'b')
                        r = sd_bus_message_read(m, "b", &b);
                else if (keys[k].type[0] == 'u')
                        r = sd_bus_message_read(m, "u", &u);
                else if (keys[k].type[0] == 's')
                        r = sd_bus_message_read(m, "s", &str);
                else
                        r = read_steps(m, prog, pump, perr);
                if (r < 0)
                        return perr->name ? -EINVAL : r;

                switch (k) {
                case KEY_MODE:
                        if (program_mode_from_string(str, &prog->mode) < 0)
                                return invalid(perr, "Mode \"%.32s\" is not known (allowed: continuous, volume-time, multistep, loading, intermittent, ramp, pca)", str);
                        break;
                case KEY_PCA_DOSE_ML:
                case KEY_PCA_DOSE:       r = pca_volume(keys[k].name, d, k == KEY_PCA_DOSE, &pca->dose, pump, perr); break;
                case KEY_LIMIT_ML:
                case KEY_LIMIT_DOSE:     r = pca_volume(keys[k].name, d, k == KEY_LIMIT_DOSE, &pca->limit, pump, perr); break;
                case KEY_BASAL_ML:
                case KEY_BASAL_DOSE:     r = pca_volume(keys[k].name, d, k == KEY_BASAL_DOSE, &pca->basal, pump, perr); break;
                case KEY_LOADING_DOSE_ML:
                case KEY_LOADING_DOSE:   r = pca_volume(keys[k].name, d, k == KEY_LOADING_DOSE, &pca->loading, pump, perr); break;
                case KEY_LOCKOUT:        pca->lockout_us = (int64_t) u * US_PER_SEC; break;
                case KEY_MAX_DOSES:      pca->max_doses_per_hour = u; break;
                case KEY_LIMIT_WINDOW:   pca->window_us = (int64_t) u * US_PER_SEC; break;
                case KEY_PCA_BOLUS_RATE:
                        if (!isfinite(d) || d <= 0)
                                r = invalid(perr, "%s must be a finite number above 0, not %g", keys[k].name, d);
                        else
                                r = ml_to_nl(keys[k].name, d, &pca->bolus_rate_nl_per_h, pump, perr);
                        break;
                case KEY_LIMIT_KVO:
                        if (!isfinite(d) || d < 0)
                                r = invalid(perr, "%s must be a finite number, 0 or more, not %g", keys[k].name, d);
                        else
                                r = ml_to_nl(keys[k].name, d, &pca->limit_kvo_nl_per_h, pump, perr);
                        break;
                case KEY_NEW_PATIENT:    pca->new_patient = b; break;
                case KEY_RATE:           r = ml_to_nl(keys[k].name, d, &prog->rate_nl_per_h, pump, perr); break;
                case KEY_VTBI:           r = ml_to_nl(keys[k].name, d, &prog->vtbi_nl, pump, perr); break;
                case KEY_KVO:            r = ml_to_nl(keys[k].name, d, &prog->kvo_rate_nl_per_h, pump, perr); break;
                case KEY_LOADING_VOLUME: r = ml_to_nl(keys[k].name, d, &prog->loading_volume_nl, pump, perr); break;
                case KEY_LOADING_RATE:   r = ml_to_nl(keys[k].name, d, &prog->loading_rate_nl_per_h, pump, perr); break;
                case KEY_DOSE_VOLUME:    r = ml_to_nl(keys[k].name, d, &prog->dose_volume_nl, pump, perr); break;
                case KEY_DURATION:       prog->duration_us = (int64_t) u * US_PER_SEC; break;
                case KEY_INTERVAL:       prog->interval_us = (int64_t) u * US_PER_SEC; break;
                case KEY_RAMP_UP:        prog->ramp_up_us = (int64_t) u * US_PER_SEC; break;
                case KEY_RAMP_DOWN:      prog->ramp_down_us = (int64_t) u * US_PER_SEC; break;
                case KEY_DOSES:          prog->doses = u; break;
                /* Strings point into the message, which outlives the call. */
                case KEY_CARE_AREA:      req->care_area = str; break;
                case KEY_DRUG:           req->drug = str; break;
                case KEY_CONCENTRATION:  req->concentration = u > INT32_MAX ? INT32_MAX : (int) u; break;
                case KEY_DOSE_UNIT:      req->dose_unit = str; break;
                case KEY_CONFIRM:        req->confirm_soft_limits = b; break;
                case KEY_REASON:
                        r = check_override_reason(str, perr);
                        req->override_reason = str;
                        break;
                case KEY_OCCLUSION_LIMIT:
                        /* One of the care area's levels, checked by the pump. */
                        if (!isfinite(d) || d <= 0)
                                r = invalid(perr, "OcclusionLimitMmHg must be a finite number above 0, not %g", d);
                        req->occlusion_limit_mmhg = d;
                        break;
                case KEY_DOSE_RATE:
                        if (!isfinite(d) || d <= 0)
                                r = invalid(perr, "DoseRate must be a finite number above 0, not %g", d);
                        req->have_dose = true;
                        req->dose_rate = d;
                        break;
                case KEY_WEIGHT:
                        /* Checked here, not only by a dose unit that uses it:
                         * a weight of 1e308 kg is recorded with the program. */
                        if (!(d >= WEIGHT_KG_MIN && d <= WEIGHT_KG_MAX))
                                r = invalid(perr, "PatientWeightKg must be a finite number from %g to %g kg, not %g",
                                            WEIGHT_KG_MIN, WEIGHT_KG_MAX, d);
                        req->patient.weight_kg = d;
                        break;
                case KEY_HEIGHT:
                        if (!(d >= HEIGHT_CM_MIN && d <= HEIGHT_CM_MAX))
                                r = invalid(perr, "PatientHeightCm must be a finite number from %g to %g cm, not %g",
                                            HEIGHT_CM_MIN, HEIGHT_CM_MAX, d);
                        req->patient.height_cm = d;
                        break;
                default:                 break;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);   /* the variant */
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);   /* the dict entry */
                if (r < 0)
                        return r;

                if (used < args_size) {
                        if (keys[k].type[0] == 'd')
                                used += snprintf(args + used, args_size - used, "%s%s=%.9g", used ? " " : "", key, d);
                        else if (keys[k].type[0] == 'u')
                                used += snprintf(args + used, args_size - used, "%s%s=%u", used ? " " : "", key, u);
                        else if (keys[k].type[0] == 's')
                                used += snprintf(args + used, args_size - used, "%s%s=%.64s", used ? " " : "", key, str);
                        else if (keys[k].type[0] == 'b')
                                used += snprintf(args + used, args_size - used, "%s%s=%s", used ? " " : "", key, b ? "true" : "false");
                        else
                                used += snprintf(args + used, args_size - used, "%s%s=[%u]", used ? " " : "", key, prog->n_steps);
                }
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        const char *mode = program_mode_to_string(prog->mode);
        for (unsigned i = 0; i < _KEY_MAX; i++) {
                char rule = keys[i].modes[prog->mode];
                if (rule == 'R' && !seen[i])
                        return invalid(perr, "%s is required for mode %s", keys[i].name, mode);
                if (rule == '-' && seen[i])
                        return invalid(perr, "%s does not apply to mode %s", keys[i].name, mode);
        }
        if (prog->mode == PROGRAM_CONTINUOUS && seen[KEY_RATE] == seen[KEY_DOSE_RATE])
                return invalid(perr, "Continuous mode needs exactly one of RateMlPerHour (mL/h) and DoseRate (in the drug's unit)");
        if (prog->mode == PROGRAM_PCA) {
                static const struct { enum key_id ml, amount; bool required; } pairs[] = {
                        { KEY_PCA_DOSE_ML, KEY_PCA_DOSE, true },
                        { KEY_LIMIT_ML, KEY_LIMIT_DOSE, true },
                        { KEY_BASAL_ML, KEY_BASAL_DOSE, false },
                        { KEY_LOADING_DOSE_ML, KEY_LOADING_DOSE, false },
                };
                for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                        bool a = seen[pairs[i].ml], b = seen[pairs[i].amount];
                        if ((a && b) || (pairs[i].required && !a && !b))
                                return invalid(perr, "Mode pca needs %s one of %s (mL) and %s (in the library's PCA unit)",
                                               pairs[i].required ? "exactly" : "at most", keys[pairs[i].ml].name,
                                               keys[pairs[i].amount].name);
                }
        }
        if (seen[KEY_REASON] && !seen[KEY_CONFIRM])
                return invalid(perr, "OverrideReason goes with ConfirmSoftLimits=true");
        return 0;
}

int bus_parse_program(sd_bus_message *m, const struct pump *pump, struct program *prog,
                      struct ders_request *req, struct pca_program *pca, struct pump_error *perr, char *args,
                      size_t args_size) {
        int r = parse_program(m, pump, prog, req, pca, perr, args, args_size);
        if (r >= 0 && prog->mode == PROGRAM_PCA)
                req->pca = pca;
        if (r < 0 && !perr->name)
                /* Not even a{sv}: say so by name rather than sd-bus's generic error. */
                r = invalid(perr, "Program takes one argument of type a{sv}: %s", strerror(-r));
        return r;
}

const char *bus_program_key(unsigned i, const char **type) {
        if (i >= _KEY_MAX)
                return NULL;
        *type = keys[i].type;
        return keys[i].name;
}

static int method_program(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        struct ders_request req;
        struct program prog;
        struct pca_program pca;
        char args[768];

        int r = bus_parse_program(m, b->pump, &prog, &req, &pca, &perr, args, sizeof(args));
        if (r >= 0)
                r = pump_program(b->pump, &prog, &req, bus_sender_uid(m), &perr);
        return bus_finish_command(b, m, "Channel.Program", args, r, &perr, error);
}

/* A small a{sv} of doubles, booleans and strings, for Titrate and
 * Bolus: every key known, of its type, at most once. */
struct small_key {
        const char *name;
        char type;                      /* 'd', 'b' or 's' */
        bool seen;
        double d;
        int b;
        const char *s;                  /* points into the message */
};

static int read_small_dict(sd_bus_message *m, struct small_key *ks, size_t n, const char *method,
                           struct pump_error *perr) {
        char allowed[200] = "";
        size_t used = 0;
        for (size_t i = 0; i < n; i++)
                used += snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", ks[i].name);

        int r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r >= 0 && (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;
                struct small_key *k = NULL;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        if (streq(ks[i].name, key))
                                k = &ks[i];
                if (!k)
                        return invalid(perr, "Unknown setting \"%.64s\" for %s (allowed: %s)", key, method, allowed);
                if (k->seen)
                        return invalid(perr, "Setting %s given twice", k->name);
                k->seen = true;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        break;
                if (contents[0] != k->type || contents[1])
                        return invalid(perr, "%s must be of D-Bus type %c, not '%s'", k->name, k->type, contents);
                if (k->type == 'd')
                        r = sd_bus_message_read(m, "v", "d", &k->d);
                else if (k->type == 'b')
                        r = sd_bus_message_read(m, "v", "b", &k->b);
                else
                        r = sd_bus_message_read(m, "v", "s", &k->s);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(m);
        if (r < 0)
                return invalid(perr, "%s takes one argument of type a{sv}: %s", method, strerror(-r));
        for (size_t i = 0; i < n; i++)
                if (ks[i].seen && ks[i].type == 'd' && (!isfinite(ks[i].d) || ks[i].d <= 0))
                        return invalid(perr, "%s must be a finite number above 0, not %g", ks[i].name, ks[i].d);
        return 0;
}

enum { SK_RATE, SK_DOSE, SK_CONFIRM, SK_REASON };

/* Titrate(a{sv}): RateMlPerHour d or DoseRate d, optional
 * ConfirmSoftLimits b and OverrideReason s. */
static int method_titrate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        struct small_key k[] = {
                [SK_RATE] = { "RateMlPerHour", 'd' }, [SK_DOSE] = { "DoseRate", 'd' },
                [SK_CONFIRM] = { "ConfirmSoftLimits", 'b' }, [SK_REASON] = { "OverrideReason", 's' },
        };
        int64_t rate_nl = 0;
        char args[160] = "";

        int r = read_small_dict(m, k, ELEMENTSOF(k), "Titrate", &perr);
        if (r >= 0) {
                snprintf(args, sizeof(args), "%s=%.9g%s", k[SK_DOSE].seen ? "DoseRate" : "RateMlPerHour",
                         k[SK_DOSE].seen ? k[SK_DOSE].d : k[SK_RATE].d, k[SK_CONFIRM].b ? " ConfirmSoftLimits=true" : "");
                if (k[SK_RATE].seen == k[SK_DOSE].seen)
                        r = invalid(&perr, "Titrate needs exactly one of RateMlPerHour and DoseRate");
                else if (k[SK_REASON].seen && !k[SK_CONFIRM].b)
                        r = invalid(&perr, "OverrideReason goes with ConfirmSoftLimits=true");
                else if (k[SK_REASON].seen && check_override_reason(k[SK_REASON].s, &perr) < 0)
                        r = -EINVAL;
                else if (k[SK_RATE].seen && ml_to_nl("RateMlPerHour", k[SK_RATE].d, &rate_nl, b->pump, &perr) < 0)
                        r = -EINVAL;
                else
                        r = pump_titrate(b->pump, rate_nl, k[SK_DOSE].seen, k[SK_DOSE].d, k[SK_CONFIRM].b,
                                         k[SK_REASON].s, bus_sender_uid(m), &perr);
        }
        return bus_finish_command(b, m, "Channel.Titrate", args, r, &perr, error);
}

enum { BK_VOLUME, BK_DOSE, BK_RATE, BK_CONFIRM, BK_REASON };

/* Bolus(a{sv}): BolusMl d or BolusDose d (the library's bolus unit),
 * BolusRateMlPerHour d, optional ConfirmSoftLimits b and OverrideReason s. */
static int method_bolus(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        struct small_key k[] = {
                [BK_VOLUME] = { "BolusMl", 'd' }, [BK_DOSE] = { "BolusDose", 'd' },
                [BK_RATE] = { "BolusRateMlPerHour", 'd' },
                [BK_CONFIRM] = { "ConfirmSoftLimits", 'b' }, [BK_REASON] = { "OverrideReason", 's' },
        };
        int64_t volume_nl = 0, rate_nl = 0;
        char args[160] = "";

        int r = read_small_dict(m, k, ELEMENTSOF(k), "Bolus", &perr);
        if (r >= 0) {
                snprintf(args, sizeof(args), "%s=%.9g BolusRateMlPerHour=%.9g%s", k[BK_DOSE].seen ? "BolusDose" : "BolusMl",
                         k[BK_DOSE].seen ? k[BK_DOSE].d : k[BK_VOLUME].d, k[BK_RATE].d,
                         k[BK_CONFIRM].b ? " ConfirmSoftLimits=true" : "");
                if (k[BK_VOLUME].seen == k[BK_DOSE].seen)
                        r = invalid(&perr, "Bolus needs exactly one of BolusMl and BolusDose");
                else if (!k[BK_RATE].seen)
                        r = invalid(&perr, "BolusRateMlPerHour is required");
                else if (k[BK_REASON].seen && !k[BK_CONFIRM].b)
                        r = invalid(&perr, "OverrideReason goes with ConfirmSoftLimits=true");
                else if (k[BK_REASON].seen && check_override_reason(k[BK_REASON].s, &perr) < 0)
                        r = -EINVAL;
                else if (ml_to_nl("BolusRateMlPerHour", k[BK_RATE].d, &rate_nl, b->pump, &perr) < 0 ||
                         (k[BK_VOLUME].seen && ml_to_nl("BolusMl", k[BK_VOLUME].d, &volume_nl, b->pump, &perr) < 0))
                        r = -EINVAL;
                else
                        r = pump_bolus(b->pump, volume_nl, k[BK_DOSE].seen, k[BK_DOSE].d, rate_nl, k[BK_CONFIRM].b,
                                       k[BK_REASON].s, bus_sender_uid(m), &perr);
        }
        return bus_finish_command(b, m, "Channel.Bolus", args, r, &perr, error);
}

#define SIMPLE_METHOD(fn, call, name)                                                   \
        static int fn(sd_bus_message *m, void *userdata, sd_bus_error *error) {         \
                struct bus_ctx *b = userdata;                                           \
                struct pump_error perr = {};                                            \
                int r = call(b->pump, &perr);                                           \
                return bus_finish_command(b, m, name, NULL, r, &perr, error);           \
        }

SIMPLE_METHOD(method_start, pump_start, "Channel.Start")
SIMPLE_METHOD(method_pause, pump_pause, "Channel.Pause")
SIMPLE_METHOD(method_resume, pump_resume, "Channel.Resume")
SIMPLE_METHOD(method_stop, pump_stop, "Channel.Stop")

static int method_acknowledge_alarm(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        const char *id;
        char args[80];

        int r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        snprintf(args, sizeof(args), "id=%.64s", id);
        r = pump_acknowledge_alarm(b->pump, id, bus_sender_uid(m), &perr);
        return bus_finish_command(b, m, "Channel.AcknowledgeAlarm", args, r, &perr, error);
}

static int method_silence_alarms(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        int64_t until_utc_us = 0;

        int r = pump_silence_alarms(b->pump, bus_sender_uid(m), &until_utc_us, &perr);
        if (r < 0)
                return bus_finish_command(b, m, "Channel.SilenceAlarms", NULL, r, &perr, error);
        bus_audit(b, m, "Channel.SilenceAlarms", NULL, "ok", NULL);
        return sd_bus_reply_method_return(m, "t", (uint64_t) until_utc_us);
}

static int method_pca_demand(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        struct pump_error perr = {};
        struct pump_demand_result res;

        int r = pump_pca_demand(b->pump, "dbus", bus_sender_uid(m), &res, &perr);
        if (r < 0)
                return bus_finish_command(b, m, "Channel.PcaDemand", NULL, r, &perr, error);
        bus_audit(b, m, "Channel.PcaDemand", NULL, "ok", res.outcome);
        return sd_bus_reply_method_return(m, "stt", res.outcome, (uint64_t) res.demand_id, (uint64_t) res.next_allowed_sec);
}

struct demands_reply {
        sd_bus_message *reply;
        int r;
};

static void append_demand(const struct db_pca_demand *e, void *userdata) {
        struct demands_reply *d = userdata;
        if (d->r >= 0)
                d->r = sd_bus_message_append(d->reply, "(ttsssd)", (uint64_t) e->id, (uint64_t) e->utc_us, e->source,
                                             e->outcome, e->detail ?: "", units_nl_to_ml(e->dose_nl));
}

#define PCA_DEMANDS_MAX 1000

static int method_get_pca_demands(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        struct bus_ctx *b = userdata;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        uint32_t count;

        int r = sd_bus_message_read(m, "u", &count);
        if (r < 0)
                return r;
        if (count > PCA_DEMANDS_MAX)
                return bus_error_setf(error, PUMP_ERROR_INVALID_ARGUMENT, "count %u is too many (allowed: 0 to %d)",
                                         count, PCA_DEMANDS_MAX);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ttsssd)");
        if (r < 0)
                return r;
        struct demands_reply d = { .reply = reply };
        r = pump_pca_demands_recent(b->pump, count, append_demand, &d);
        if (r < 0)
                return bus_error_setf(error, PUMP_ERROR_STORAGE, "The PCA history could not be read: %s", strerror(-r));
        if (d.r < 0)
                return d.r;
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* ---- properties ----------------------------------------------------- */

#define PROP(fn) \
        static int fn(sd_bus *bus, const char *path, const char *iface, const char *prop, \
                      sd_bus_message *reply, void *userdata, sd_bus_error *error)

#define CH(userdata) pump_channel(((struct bus_ctx *) (userdata))->pump)

PROP(prop_state) { return sd_bus_message_append(reply, "s", channel_state_to_string(CH(userdata)->state)); }
PROP(prop_rate) { return sd_bus_message_append(reply, "d", units_nl_to_ml(CH(userdata)->prog.rate_nl_per_h)); }
PROP(prop_current_rate) {
        return sd_bus_message_append(reply, "d", units_nl_to_ml(channel_current_rate_nl_per_h(CH(userdata))));
}
PROP(prop_vtbi) { return sd_bus_message_append(reply, "d", units_nl_to_ml(CH(userdata)->prog.vtbi_nl)); }
PROP(prop_kvo_rate) {
        return sd_bus_message_append(reply, "d", units_nl_to_ml(CH(userdata)->prog.kvo_rate_nl_per_h));
}
PROP(prop_volume) { return sd_bus_message_append(reply, "d", units_nl_to_ml(channel_volume_nl(CH(userdata)))); }
PROP(prop_kvo_volume) {
        return sd_bus_message_append(reply, "d", units_nl_to_ml(channel_kvo_volume_nl(CH(userdata))));
}
PROP(prop_time_remaining) { return sd_bus_message_append(reply, "t", channel_time_remaining_sec(CH(userdata))); }
PROP(prop_pressure) {
        return sd_bus_message_append(reply, "d", pump_pressure_mmhg(((struct bus_ctx *) userdata)->pump));
}
PROP(prop_infusion_id) {
        return sd_bus_message_append(reply, "t", (uint64_t) pump_infusion_id(((struct bus_ctx *) userdata)->pump));
}

#define INFO(userdata) pump_program_info(((struct bus_ctx *) (userdata))->pump)

PROP(prop_mode) { return sd_bus_message_append(reply, "s", program_mode_to_string(CH(userdata)->prog.mode)); }
PROP(prop_care_area) { return sd_bus_message_append(reply, "s", INFO(userdata)->care_area); }
PROP(prop_drug) { return sd_bus_message_append(reply, "s", INFO(userdata)->drug_id); }
PROP(prop_drug_name) { return sd_bus_message_append(reply, "s", INFO(userdata)->drug_name); }
PROP(prop_dose_rate) { return sd_bus_message_append(reply, "d", INFO(userdata)->dose_rate); }
PROP(prop_dose_rate_unit) { return sd_bus_message_append(reply, "s", INFO(userdata)->dose_unit); }
PROP(prop_concentration) { return sd_bus_message_append(reply, "s", INFO(userdata)->concentration); }

PROP(prop_active_alarms) {
        const struct alarm_set *s = pump_alarms(((struct bus_ctx *) userdata)->pump);
        int r = sd_bus_message_open_container(reply, 'a', "(sssts)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < s->n; i++) {
                const struct alarm *a = &s->items[i];
                r = sd_bus_message_append(reply, "(sssts)", a->id, alarm_condition_to_string(a->condition),
                                          alarm_priority_to_string(a->priority), (uint64_t) a->raised_utc_us,
                                          a->message);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

PROP(prop_audio_paused_until) {
        return sd_bus_message_append(reply, "t", (uint64_t) pump_audio_paused_until_utc_us(((struct bus_ctx *) userdata)->pump));
}

PROP(prop_occlusion_limit) {
        return sd_bus_message_append(reply, "d", pump_occlusion_limit_mmhg(((struct bus_ctx *) userdata)->pump));
}

#define PUMP(userdata) (((struct bus_ctx *) (userdata))->pump)
#define PCA(userdata) pump_pca(PUMP(userdata))

PROP(prop_pca_total) { return sd_bus_message_append(reply, "t", PCA(userdata)->demands_total); }
PROP(prop_pca_granted) { return sd_bus_message_append(reply, "t", PCA(userdata)->demands_granted); }
PROP(prop_next_demand) { return sd_bus_message_append(reply, "t", (uint64_t) pump_pca_next_allowed_sec(PUMP(userdata))); }
PROP(prop_window_volume) {
        return sd_bus_message_append(reply, "d", units_nl_to_ml(pca_window_volume_nl(PCA(userdata), pump_now_us(PUMP(userdata)))));
}
PROP(prop_window_limit) {
        return sd_bus_message_append(reply, "d", PCA(userdata)->configured ? units_nl_to_ml(PCA(userdata)->params.limit_nl) : 0.0);
}
PROP(prop_limit_window) {
        return sd_bus_message_append(reply, "u", PCA(userdata)->configured ? (uint32_t) (PCA(userdata)->params.window_us / US_PER_SEC) : 0);
}
PROP(prop_limit_reached) { return sd_bus_message_append(reply, "b", CH(userdata)->pca_limited); }
PROP(prop_pca_dose) { return sd_bus_message_append(reply, "d", units_nl_to_ml(CH(userdata)->prog.pca_dose_nl)); }
PROP(prop_lockout) { return sd_bus_message_append(reply, "u", (uint32_t) (CH(userdata)->prog.lockout_us / US_PER_SEC)); }
PROP(prop_max_doses) { return sd_bus_message_append(reply, "u", CH(userdata)->prog.max_doses_per_hour); }
PROP(prop_basal) { return sd_bus_message_append(reply, "d", units_nl_to_ml(CH(userdata)->prog.basal_nl_per_h)); }

static const sd_bus_vtable channel_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Program", SD_BUS_ARGS("a{sv}", settings), SD_BUS_NO_RESULT,
                                method_program, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Start", NULL, NULL, method_start, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Titrate", SD_BUS_ARGS("a{sv}", settings), SD_BUS_NO_RESULT,
                                method_titrate, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Bolus", SD_BUS_ARGS("a{sv}", settings), SD_BUS_NO_RESULT,
                                method_bolus, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Pause", NULL, NULL, method_pause, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Resume", NULL, NULL, method_resume, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Stop", NULL, NULL, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AcknowledgeAlarm", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_acknowledge_alarm, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("SilenceAlarms", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", paused_until_usec),
                                method_silence_alarms, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PcaDemand", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("s", outcome, "t", demand_id, "t", next_allowed_sec),
                                method_pca_demand, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetPcaDemands", SD_BUS_ARGS("u", count), SD_BUS_RESULT("a(ttsssd)", demands),
                                method_get_pca_demands, SD_BUS_VTABLE_UNPRIVILEGED),

        SD_BUS_PROPERTY("State", "s", prop_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("RateMlPerHour", "d", prop_rate, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CurrentRateMlPerHour", "d", prop_current_rate, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("VtbiMl", "d", prop_vtbi, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("KvoRateMlPerHour", "d", prop_kvo_rate, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        /* Throttled to 1 Hz by bus.c (docs/API.md). */
        SD_BUS_PROPERTY("VolumeInfusedMl", "d", prop_volume, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("KvoVolumeMl", "d", prop_kvo_volume, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("TimeRemainingSec", "t", prop_time_remaining, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PressureMmHg", "d", prop_pressure, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InfusionId", "t", prop_infusion_id, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ActiveAlarms", "a(sssts)", prop_active_alarms, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AudioPausedUntilUsec", "t", prop_audio_paused_until, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("OcclusionLimitMmHg", "d", prop_occlusion_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Mode", "s", prop_mode, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CareArea", "s", prop_care_area, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Drug", "s", prop_drug, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DrugName", "s", prop_drug_name, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DoseRate", "d", prop_dose_rate, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("DoseRateUnit", "s", prop_dose_rate_unit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Concentration", "s", prop_concentration, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PcaDemandsTotal", "t", prop_pca_total, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PcaDemandsGranted", "t", prop_pca_granted, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("NextDemandAllowedSec", "t", prop_next_demand, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("WindowVolumeMl", "d", prop_window_volume, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("WindowLimitMl", "d", prop_window_limit, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LimitWindowSec", "u", prop_limit_window, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PcaLimitReached", "b", prop_limit_reached, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("PcaDoseMl", "d", prop_pca_dose, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LockoutSec", "u", prop_lockout, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MaxDosesPerHour", "u", prop_max_doses, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("BasalRateMlPerHour", "d", prop_basal, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),

        SD_BUS_SIGNAL_WITH_ARGS("AlarmRaised", SD_BUS_ARGS("s", id, "s", condition, "s", priority, "s", message), 0),
        SD_BUS_SIGNAL_WITH_ARGS("AlarmCleared", SD_BUS_ARGS("s", id, "s", condition), 0),
        SD_BUS_SIGNAL_WITH_ARGS("AlarmEscalated", SD_BUS_ARGS("s", id, "s", condition, "s", priority), 0),
        SD_BUS_SIGNAL_WITH_ARGS("InfusionEnded", SD_BUS_ARGS("t", infusion_id, "s", status, "d", volume_ml), 0),
        SD_BUS_SIGNAL_WITH_ARGS("PcaDemanded", SD_BUS_ARGS("t", demand_id, "s", source, "s", outcome), 0),
        SD_BUS_VTABLE_END,
};

int bus_add_channel(struct bus_ctx *b) {
        return sd_bus_add_object_vtable(b->bus, NULL, BUS_PATH_CHANNEL0, BUS_IFACE_CHANNEL, channel_vtable, b);
}
