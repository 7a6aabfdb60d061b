/* SPDX-License-Identifier: MIT */
#pragma once

/* The options of `infusionctl program` and the Program keys they become
 * (docs/API.md). Pure: no D-Bus and no I/O, so the unit tests can check
 * the parsing; infusionctl.c appends the parsed settings to the call.
 *
 * Only the options given are sent: no defaults are added, since the daemon
 * refuses a key that does not apply to the mode and applies its own
 * defaults for the keys left out. Ranges, required keys and which keys a
 * mode takes are the daemon's to judge; here every value is only checked
 * to be a well-formed number, duration or UTF-8 text, before connecting. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ProgramOption {
        PROGRAM_OPT_MODE,
        PROGRAM_OPT_RATE,
        PROGRAM_OPT_VTBI,
        PROGRAM_OPT_KVO,
        PROGRAM_OPT_DURATION,
        PROGRAM_OPT_RAMP_UP,
        PROGRAM_OPT_RAMP_DOWN,
        PROGRAM_OPT_STEP,
        PROGRAM_OPT_LOADING_VOLUME,
        PROGRAM_OPT_LOADING_RATE,
        PROGRAM_OPT_DOSE_VOLUME,
        PROGRAM_OPT_INTERVAL,
        PROGRAM_OPT_DOSES,
        PROGRAM_OPT_CARE_AREA,
        PROGRAM_OPT_DRUG,
        PROGRAM_OPT_CONCENTRATION,
        PROGRAM_OPT_DOSE,
        PROGRAM_OPT_UNIT,
        PROGRAM_OPT_WEIGHT,
        PROGRAM_OPT_HEIGHT,
        PROGRAM_OPT_CONFIRM_SOFT_LIMITS,
        PROGRAM_OPT_REASON,
        PROGRAM_OPT_PCA_DOSE_ML,
        PROGRAM_OPT_PCA_DOSE,
        PROGRAM_OPT_LOCKOUT,
        PROGRAM_OPT_MAX_DOSES_PER_HOUR,
        PROGRAM_OPT_LIMIT_ML,
        PROGRAM_OPT_LIMIT_DOSE,
        PROGRAM_OPT_LIMIT_WINDOW,
        PROGRAM_OPT_BASAL_ML_PER_H,
        PROGRAM_OPT_BASAL_DOSE,
        PROGRAM_OPT_LOADING_DOSE_ML,
        PROGRAM_OPT_LOADING_DOSE,
        PROGRAM_OPT_PCA_BOLUS_RATE,
        PROGRAM_OPT_LIMIT_KVO_RATE,
        PROGRAM_OPT_NEW_PATIENT,
        _PROGRAM_OPT_MAX,
} ProgramOption;

typedef enum ProgramValueType {
        PROGRAM_VALUE_DOUBLE,           /* d */
        PROGRAM_VALUE_DURATION,         /* u, seconds, from "30m", "1h", ... */
        PROGRAM_VALUE_UNSIGNED,         /* u */
        PROGRAM_VALUE_STRING,           /* s */
        PROGRAM_VALUE_MODE,             /* s, one of the modes of API.md */
        PROGRAM_VALUE_FLAG,             /* b, true; the option takes no argument */
        PROGRAM_VALUE_STEPS,            /* a(dd), one (rate, volume) per --step */
} ProgramValueType;

typedef struct ProgramOptionInfo {
        const char *option;             /* long option, without "--" */
        const char *key;                /* Program key */
        ProgramValueType type;
        const char *unit;               /* for messages: "mL/h", ...; NULL */
} ProgramOptionInfo;

extern const ProgramOptionInfo program_options[_PROGRAM_OPT_MAX];

typedef struct ProgramStep {
        double rate_ml_per_h;
        double volume_ml;
} ProgramStep;

typedef struct ProgramRequest {
        bool given[_PROGRAM_OPT_MAX];
        const char *text[_PROGRAM_OPT_MAX];     /* the argument as given; not copied */
        const char **step_texts;                /* each --step, in order */
        size_t n_steps;

        /* Filled by program_request_parse(), for the options given: */
        double number[_PROGRAM_OPT_MAX];        /* PROGRAM_VALUE_DOUBLE */
        uint32_t whole[_PROGRAM_OPT_MAX];       /* PROGRAM_VALUE_DURATION, PROGRAM_VALUE_UNSIGNED */
        ProgramStep *steps;                     /* n_steps of them */
} ProgramRequest;

/* Records one option as given on the command line; arg is kept, not
 * copied (argv outlives the request). arg is ignored for the flag.
 * -EEXIST when an option other than --step is given twice (a second
 * --rate must never silently win), -ENOMEM. */
int program_request_set(ProgramRequest *p, ProgramOption o, const char *arg);

/* Parses every option given. On failure returns -EINVAL with a message
 * for the user in err ("--rate: 'abc' is not a number (in mL/h, like 100
 * or 2.5)."); nothing is connected or sent then. */
int program_request_parse(ProgramRequest *p, char *err, size_t err_size);

/* The first option given, in table order, or _PROGRAM_OPT_MAX for none;
 * with except_care_area, --care-area (which `library list` takes too) is
 * not counted. */
ProgramOption program_request_first_given(const ProgramRequest *p, bool except_care_area);

void program_request_done(ProgramRequest *p);

/* The modes of API.md, NULL-terminated, for messages and --help. */
extern const char *const program_modes[];

/* The option that sets the Program key named in text, where text names
 * one as a whole word ("VtbiMl is required" -> PROGRAM_OPT_VTBI; not
 * "RateMlPerHour" within "KvoRateMlPerHour"), or _PROGRAM_OPT_MAX. The
 * daemon words its errors in keys; a person typed options. Looks from
 * *pos on and moves *pos past the match, so every key a message names can
 * be found in turn. */
ProgramOption program_option_named_in(const char *text, size_t *pos);
