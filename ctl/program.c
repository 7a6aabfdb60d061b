/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/format.h"
#include "ctl/program.h"

/* D-Bus u is 32 bits; parse_unsigned() gives an unsigned. */
_Static_assert(UINT_MAX == UINT32_MAX, "unsigned must be 32 bits");

const ProgramOptionInfo program_options[_PROGRAM_OPT_MAX] = {
        [PROGRAM_OPT_MODE]                = { "mode",                "Mode",                 PROGRAM_VALUE_MODE,     NULL },
        [PROGRAM_OPT_RATE]                = { "rate",                "RateMlPerHour",        PROGRAM_VALUE_DOUBLE,   "mL/h" },
        [PROGRAM_OPT_VTBI]                = { "vtbi",                "VtbiMl",               PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_KVO]                 = { "kvo",                 "KvoRateMlPerHour",     PROGRAM_VALUE_DOUBLE,   "mL/h" },
        [PROGRAM_OPT_DURATION]            = { "duration",            "DurationSec",          PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_RAMP_UP]             = { "ramp-up",             "RampUpSec",            PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_RAMP_DOWN]           = { "ramp-down",           "RampDownSec",          PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_STEP]                = { "step",                "Steps",                PROGRAM_VALUE_STEPS,    NULL },
        [PROGRAM_OPT_LOADING_VOLUME]      = { "loading-volume",      "LoadingVolumeMl",      PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_LOADING_RATE]        = { "loading-rate",        "LoadingRateMlPerHour", PROGRAM_VALUE_DOUBLE,   "mL/h" },
        [PROGRAM_OPT_DOSE_VOLUME]         = { "dose-volume",         "DoseVolumeMl",         PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_INTERVAL]            = { "interval",            "IntervalSec",          PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_DOSES]               = { "doses",               "Doses",                PROGRAM_VALUE_UNSIGNED, NULL },
        [PROGRAM_OPT_CARE_AREA]           = { "care-area",           "CareArea",             PROGRAM_VALUE_STRING,   NULL },
        [PROGRAM_OPT_DRUG]                = { "drug",                "Drug",                 PROGRAM_VALUE_STRING,   NULL },
        [PROGRAM_OPT_CONCENTRATION]       = { "concentration",       "Concentration",        PROGRAM_VALUE_UNSIGNED, NULL },
        [PROGRAM_OPT_DOSE]                = { "dose",                "DoseRate",             PROGRAM_VALUE_DOUBLE,   "the drug's dose unit" },
        [PROGRAM_OPT_UNIT]                = { "unit",                "DoseRateUnit",         PROGRAM_VALUE_STRING,   NULL },
        [PROGRAM_OPT_WEIGHT]              = { "weight",              "PatientWeightKg",      PROGRAM_VALUE_DOUBLE,   "kg" },
        [PROGRAM_OPT_HEIGHT]              = { "height",              "PatientHeightCm",      PROGRAM_VALUE_DOUBLE,   "cm" },
        [PROGRAM_OPT_CONFIRM_SOFT_LIMITS] = { "confirm-soft-limits", "ConfirmSoftLimits",    PROGRAM_VALUE_FLAG,     NULL },
        [PROGRAM_OPT_REASON]              = { "reason",              "OverrideReason",       PROGRAM_VALUE_STRING,   NULL },
        [PROGRAM_OPT_PCA_DOSE_ML]         = { "pca-dose-ml",         "PcaDoseMl",            PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_PCA_DOSE]            = { "pca-dose",            "PcaDose",              PROGRAM_VALUE_DOUBLE,   "the drug's PCA unit" },
        [PROGRAM_OPT_LOCKOUT]             = { "lockout",             "LockoutSec",           PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_MAX_DOSES_PER_HOUR]  = { "max-doses-per-hour",  "MaxDosesPerHour",      PROGRAM_VALUE_UNSIGNED, NULL },
        [PROGRAM_OPT_LIMIT_ML]            = { "limit-ml",            "LimitMl",              PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_LIMIT_DOSE]          = { "limit-dose",          "LimitDose",            PROGRAM_VALUE_DOUBLE,   "the drug's PCA unit" },
        [PROGRAM_OPT_LIMIT_WINDOW]        = { "limit-window",        "LimitWindowSec",       PROGRAM_VALUE_DURATION, NULL },
        [PROGRAM_OPT_BASAL_ML_PER_H]      = { "basal-ml-per-h",      "BasalRateMlPerHour",   PROGRAM_VALUE_DOUBLE,   "mL/h" },
        [PROGRAM_OPT_BASAL_DOSE]          = { "basal-dose",          "BasalDose",            PROGRAM_VALUE_DOUBLE,   "the drug's PCA unit per hour" },
        [PROGRAM_OPT_LOADING_DOSE_ML]     = { "loading-dose-ml",     "LoadingDoseMl",        PROGRAM_VALUE_DOUBLE,   "mL" },
        [PROGRAM_OPT_LOADING_DOSE]        = { "loading-dose",        "LoadingDose",          PROGRAM_VALUE_DOUBLE,   "the drug's PCA unit" },
        [PROGRAM_OPT_PCA_BOLUS_RATE]      = { "pca-bolus-rate",      "PcaBolusRateMlPerHour", PROGRAM_VALUE_DOUBLE,  "mL/h" },
        [PROGRAM_OPT_LIMIT_KVO_RATE]      = { "limit-kvo-rate",      "LimitKvoRateMlPerHour", PROGRAM_VALUE_DOUBLE,  "mL/h" },
        [PROGRAM_OPT_NEW_PATIENT]         = { "new-patient",         "NewPatient",           PROGRAM_VALUE_FLAG,     NULL },
};

const char *const program_modes[] = {
        "continuous", "volume-time", "multistep", "loading", "intermittent", "ramp", "pca", NULL,
};

static int fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...) {
        va_list ap;

        if (err_size > 0) {
                va_start(ap, fmt);
                vsnprintf(err, err_size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

int program_request_set(ProgramRequest *p, ProgramOption o, const char *arg) {
        if ((unsigned) o >= _PROGRAM_OPT_MAX)
                return -EINVAL;

        if (o == PROGRAM_OPT_STEP) {
                const char **t = realloc(p->step_texts, (p->n_steps + 1) * sizeof *t);

                if (!t)
                        return -ENOMEM;
                p->step_texts = t;
                p->step_texts[p->n_steps++] = arg;
                p->given[o] = true;
                return 0;
        }

        if (p->given[o])
                return -EEXIST;
        p->given[o] = true;
        p->text[o] = arg;
        return 0;
}

static bool is_mode(const char *s) {
        for (size_t i = 0; program_modes[i]; i++)
                if (strcmp(s, program_modes[i]) == 0)
                        return true;
        return false;
}

/* "continuous, volume-time, ... or pca" */
static void list_modes(char *buf, size_t size) {
        size_t pos = 0;

        buf[0] = '\0';
        for (size_t i = 0; program_modes[i] && pos < size; i++) {
                int n = snprintf(buf + pos, size - pos, "%s%s",
                                 i == 0 ? "" : program_modes[i + 1] ? ", " : " or ", program_modes[i]);
                if (n < 0)
                        break;
                pos += (size_t) n;
        }
}

static int parse_number(const ProgramOptionInfo *info, const char *text, double *ret, char *err, size_t err_size) {
        int r = parse_double_strict(text, ret);

        if (r == -ERANGE)
                return fail(err, err_size, "--%s: '%s' is out of range.", info->option, text);
        if (r < 0)
                return fail(err, err_size, "--%s: '%s' is not a number (in %s, like 100 or 2.5).",
                            info->option, text, info->unit);
        return 0;
}

static int parse_one(ProgramRequest *p, ProgramOption o, char *err, size_t err_size) {
        const ProgramOptionInfo *info = &program_options[o];
        const char *text = p->text[o];
        size_t valid;
        int r;

        switch (info->type) {

        case PROGRAM_VALUE_DOUBLE:
                return parse_number(info, text, &p->number[o], err, err_size);

        case PROGRAM_VALUE_DURATION:
                r = parse_duration_sec(text, &p->whole[o]);
                if (r == -EDOM)
                        return fail(err, err_size, "--%s: '%s' is not a whole number of seconds.", info->option, text);
                if (r == -ERANGE)
                        return fail(err, err_size, "--%s: '%s' is too long.", info->option, text);
                if (r < 0)
                        return fail(err, err_size, "--%s: '%s' is not a duration (like 30m, 1h, 90s, or 90 for seconds).",
                                    info->option, text);
                return 0;

        case PROGRAM_VALUE_UNSIGNED: {
                unsigned v;

                r = parse_unsigned(text, &v);
                if (r == -ERANGE)
                        return fail(err, err_size, "--%s: '%s' is out of range.", info->option, text);
                if (r < 0)
                        return fail(err, err_size, "--%s: '%s' is not a whole number (like 0, 1, 2).", info->option, text);
                p->whole[o] = v;
                return 0;
        }

        case PROGRAM_VALUE_MODE: {
                char modes[256];

                if (!is_mode(text)) {
                        list_modes(modes, sizeof modes);
                        return fail(err, err_size, "--mode: '%s' is not a mode (expected %s).", text, modes);
                }
                return 0;
        }

        case PROGRAM_VALUE_STRING:
                if (*text == '\0')
                        return fail(err, err_size, "--%s: the value must not be empty.", info->option);
                /* D-Bus carries only UTF-8: say so here rather than fail
                 * to build the call. */
                valid = utf8_valid_prefix(text);
                if (text[valid] != '\0')
                        return fail(err, err_size, "--%s: the value is not valid UTF-8 (at byte %zu).",
                                    info->option, valid + 1);
                return 0;

        case PROGRAM_VALUE_FLAG:
                return 0;

        case PROGRAM_VALUE_STEPS:
                free(p->steps);
                p->steps = calloc(p->n_steps, sizeof *p->steps);
                if (!p->steps)
                        return fail(err, err_size, "Out of memory.");
                for (size_t i = 0; i < p->n_steps; i++) {
                        ProgramStep *st = &p->steps[i];

                        r = parse_step(p->step_texts[i], &st->rate_ml_per_h, &st->volume_ml);
                        if (r == -ERANGE)
                                return fail(err, err_size, "--step: '%s' is out of range.", p->step_texts[i]);
                        if (r < 0)
                                return fail(err, err_size, "--step: '%s' is not RATE:VOLUME (in mL/h and mL, like 100:20).",
                                            p->step_texts[i]);
                }
                return 0;
        }
        return fail(err, err_size, "--%s: unknown option type.", info->option);
}

int program_request_parse(ProgramRequest *p, char *err, size_t err_size) {
        int r;

        for (unsigned o = 0; o < _PROGRAM_OPT_MAX; o++) {
                if (!p->given[o])
                        continue;
                r = parse_one(p, (ProgramOption) o, err, err_size);
                if (r < 0)
                        return r;
        }

        /* API.md: the reason is required with the confirmation. Said here
         * because it is a command-line matter: which two options go
         * together. */
        if (p->given[PROGRAM_OPT_CONFIRM_SOFT_LIMITS] && !p->given[PROGRAM_OPT_REASON])
                return fail(err, err_size, "--confirm-soft-limits needs --reason TEXT: the override is recorded with its reason.");
        return 0;
}

ProgramOption program_request_first_given(const ProgramRequest *p, bool except_care_area) {
        for (unsigned o = 0; o < _PROGRAM_OPT_MAX; o++)
                if (p->given[o] && !(except_care_area && o == PROGRAM_OPT_CARE_AREA))
                        return (ProgramOption) o;
        return _PROGRAM_OPT_MAX;
}

void program_request_done(ProgramRequest *p) {
        free(p->step_texts);
        free(p->steps);
        *p = (ProgramRequest) {};
}

static bool is_word_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

ProgramOption program_option_named_in(const char *text, size_t *pos) {
        if (!text)
                return _PROGRAM_OPT_MAX;

        for (size_t i = *pos; text[i]; i++) {
                if (!is_word_char(text[i]) || (i > 0 && is_word_char(text[i - 1])))
                        continue;       /* not the start of a word */
                for (unsigned o = 0; o < _PROGRAM_OPT_MAX; o++) {
                        size_t n = strlen(program_options[o].key);

                        if (strncmp(text + i, program_options[o].key, n) == 0 && !is_word_char(text[i + n])) {
                                *pos = i + n;
                                return (ProgramOption) o;
                        }
                }
        }
        *pos = strlen(text);
        return _PROGRAM_OPT_MAX;
}
