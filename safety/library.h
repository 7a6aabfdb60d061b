/* SPDX-License-Identifier: MIT */
#pragma once

/* The drug library (DERS): care areas, drugs with their dose unit and
 * concentrations, and per care area the hard and soft limits a program is
 * checked against. Pure logic: the model, its validation and the limit
 * check. Reading and writing it (JSON, SQLite) lives in db/; the file format
 * is docs/LIBRARY.md.
 *
 * A library is replaced as a whole, never edited in place: whoever holds a
 * pointer to one may read it without locks until it frees it. */

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "safety/dose.h"

#define DRUG_LIBRARY_CARE_AREAS_MAX 64
#define DRUG_LIBRARY_DRUGS_MAX 5000
#define DRUG_LIBRARY_ID_MAX 64                  /* characters in an id */
#define DRUG_LIBRARY_TEXT_MAX 128               /* bytes in a name or the version */

/* Downstream occlusion settings of a care area (docs/LIBRARY.md). ECRI:
 * pumps offer 2..20 psi (103..1034 mmHg); we allow from 50 mmHg so a
 * neonatal area can go below 2 psi, and cap at 1000 so the 1034 mmHg
 * (20 psi) limit is never reached. Levels are whole mmHg. */
#define OCCLUSION_LIMIT_MMHG_MIN 50
#define OCCLUSION_LIMIT_MMHG_MAX 1000
#define OCCLUSION_LEVELS_MAX 5
/* BD Alaris "checking line": after a downstream occlusion, resume if the
 * pressure falls below 50 % of the limit within 15 s, at most this many
 * times per rolling 10 min. */
#define OCCLUSION_AUTO_RESTARTS_MAX 9

struct occlusion_settings {
        int levels_mmhg[OCCLUSION_LEVELS_MAX];  /* strictly ascending, each MIN..MAX */
        size_t n_levels;                        /* 1..OCCLUSION_LEVELS_MAX */
        int default_mmhg;                       /* one of levels_mmhg */
        int auto_restarts;                      /* 0..OCCLUSION_AUTO_RESTARTS_MAX per 10 min; 0: never */
};

struct care_area {
        char *id;                               /* "ICU": [A-Za-z0-9_-], unique */
        char *name;                             /* "Intensive Care Unit" */
        bool allow_basic_infusion;              /* may run without a library drug */
        bool has_occlusion;                     /* false: the pump's configured defaults apply */
        struct occlusion_settings occlusion;    /* only if has_occlusion */
};

/* One set of limits. NAN means "no limit of that kind"; a present limit is
 * finite and > 0, and hard_min <= soft_min <= soft_max <= hard_max for
 * those present. Hard limits are inclusive: hard_max itself is allowed. */
struct dose_limits {
        double hard_min;
        double soft_min;
        double soft_max;
        double hard_max;
};

#define DOSE_LIMITS_NONE ((struct dose_limits) { NAN, NAN, NAN, NAN })

/* A bolus or loading dose: an amount, not a rate. */
struct amount_limits {
        bool allowed;                           /* false: none may be given in this care area */
        struct dose_unit unit;                  /* time is DOSE_TIME_NONE: "mg", "mcg/kg" */
        struct dose_limits limits;              /* in unit */
};

/* What the pump does when a PCA window's cumulative limit is reached and
 * the program has no basal rate: keep the vein open at the program's
 * limit KVO rate (0.1 mL/h unless set), or stop all flow until the window
 * frees again. With a basal rate, the basal rate continues either way. */
enum pca_limit_action {
        PCA_LIMIT_KVO,
        PCA_LIMIT_STOP,
        _PCA_LIMIT_ACTION_MAX,
};

const char *pca_limit_action_to_string(enum pca_limit_action a);
int pca_limit_action_from_string(const char *s, enum pca_limit_action *ret);

/* Patient-controlled analgesia of a drug in one care area
 * (docs/LIBRARY.md, "pca"). Amounts are in unit; the basal rate is in
 * unit per hour; the lockout in minutes. Each limit set may be empty
 * (DOSE_LIMITS_NONE) except demand, which needs at least a hard_max. */
struct pca_limits {
        bool allowed;                           /* false: no PCA of this drug in this area */
        struct dose_unit unit;                  /* an amount without time: "mg", "mcg/kg", "mL" */
        struct dose_limits demand;              /* each demand dose */
        struct dose_limits lockout_min;
        struct dose_limits doses_per_hour;
        struct dose_limits limit;               /* the cumulative amount over window_h */
        double window_h;                        /* 1..12 when limit has any bound, else NAN */
        bool basal_allowed;                     /* false: no basal rate with PCA here */
        struct dose_limits basal;               /* unit per hour */
        bool clinician_bolus_counts;            /* loading and clinician boluses count toward the limit */
        enum pca_limit_action limit_action;
};

/* A drug in one care area. A drug without an entry for a care area is not
 * available there. */
struct drug_limits {
        char *care_area_id;
        struct dose_limits dose;                /* continuous dose, in the drug's dose_unit */
        struct amount_limits bolus;
        struct amount_limits loading;
        struct pca_limits pca;
};

struct drug {
        char *id;                               /* "heparin": [A-Za-z0-9_-], unique */
        char *name;                             /* "Heparin" */
        struct dose_unit dose_unit;             /* a rate: "units/kg/h", "mL/h" */
        /* At least one, unless the dose unit is a volume (mL/h, mL/kg/h):
         * a fluid needs no strength to be run. */
        struct concentration *concentrations;
        size_t n_concentrations;
        struct drug_limits *limits;             /* one per care area where it is available */
        size_t n_limits;
};

struct drug_library {
        char *version;                          /* free text: "2026-11 ICU v3" */
        struct care_area *care_areas;
        size_t n_care_areas;
        struct drug *drugs;
        size_t n_drugs;
};

struct drug_library *drug_library_free(struct drug_library *lib);
static inline void drug_library_freep(struct drug_library **lib) {
        drug_library_free(*lib);
}

/* NULL when there is no such id. Linear: a library holds a few thousand
 * drugs and is searched at programming time, not per step. */
const struct care_area *drug_library_find_care_area(const struct drug_library *lib, const char *id);
const struct drug *drug_library_find_drug(const struct drug_library *lib, const char *id);

/* The drug's concentration equal to c (amount, unit and volume), or NULL:
 * the library does not stock that strength. Matching by value, not by
 * index, means a re-imported library can never turn a program's
 * concentration into another strength. */
const struct concentration *drug_find_concentration(const struct drug *d, const struct concentration *c);

/* The drug's limits in a care area, or NULL: the drug is not available there. */
const struct drug_limits *drug_limits_for(const struct drug *d, const char *care_area_id);

/* The downstream occlusion limit for an infusion in care area a: the
 * area's default level if asked_mmhg is NAN, else the level asked_mmhg
 * names (within 0.5 mmHg, so 299.8 from a psi conversion is 300; exactly
 * between two levels, the lower one). Returns 0 and writes *ret_limit_mmhg
 * (may be NULL) on success; -ENOENT if the area has no occlusion settings
 * (the caller uses the pump's configuration), -EINVAL if asked_mmhg is not
 * one of the area's levels. */
int care_area_occlusion_level(const struct care_area *a, double asked_mmhg, double *ret_limit_mmhg);

enum limit_verdict {
        LIMIT_OK,
        LIMIT_SOFT_LOW,                         /* needs a confirmation and a reason */
        LIMIT_SOFT_HIGH,
        LIMIT_HARD_LOW,                         /* cannot be given */
        LIMIT_HARD_HIGH,
        LIMIT_INVALID,                          /* not finite or not > 0: refuse like a hard limit */
        _LIMIT_VERDICT_MAX,
};

/* Where value (in the unit of l) falls. Hard limits win over soft ones;
 * every bound is inclusive (a value equal to hard_max or soft_max is
 * within it). NaN, infinities and values <= 0 are LIMIT_INVALID: a
 * comparison with NaN is always false, so without that a NaN would pass. */
enum limit_verdict limit_check(const struct dose_limits *l, double value);
const char *limit_verdict_to_string(enum limit_verdict v);

/* Problems found in a library, each "path: message" with the JSON path of
 * the offending value ("drugs[3].concentrations[0].amount: must be > 0").
 * At most LIBRARY_ERRORS_MAX are kept; truncated says there were more.
 * Texts are valid UTF-8 without control characters. */
#define LIBRARY_ERRORS_MAX 50
#define LIBRARY_ERROR_MAX 512

struct library_errors {
        size_t n;
        bool truncated;
        char text[LIBRARY_ERRORS_MAX][LIBRARY_ERROR_MAX];
        size_t path_len[LIBRARY_ERRORS_MAX];    /* text[i] starts with its path, this long */
};

void library_errors_reset(struct library_errors *e);

/* Record a problem at path ("" for the whole file: the text is then the
 * message alone). A problem at a path already reported, or inside one
 * ("drugs[2].id" after "drugs[2]"), is dropped: the first message is the
 * one to act on, and a value already refused must not be reported again
 * under another name. */
__attribute__((format(printf, 3, 4)))
void library_errors_add(struct library_errors *e, const char *path, const char *format, ...);

static inline bool library_errors_any(const struct library_errors *e) {
        return e->n > 0 || e->truncated;
}

/* Check every rule of docs/LIBRARY.md that is not about JSON syntax or
 * types, adding each problem to errs. Returns -EINVAL if errs then holds
 * any problem (pass an empty one to judge a library on its own), 0 if not,
 * -ENOMEM. Safe on a partly built library (NULL strings, NAN numbers):
 * those are reported, not dereferenced. */
int drug_library_validate(const struct drug_library *lib, struct library_errors *errs);

/* The shortest decimal text that reads back as exactly d ("0.1", "25000",
 * "2.5e-7"), with a '.' whatever the locale. For files and messages. */
#define LIBRARY_NUMBER_MAX 32
const char *library_number_to_string(double d, char buf[static LIBRARY_NUMBER_MAX]);
