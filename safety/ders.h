/* SPDX-License-Identifier: MIT */
#pragma once

/* Dose error reduction: a program checked against the drug library before
 * the pump accepts it. Turns a dose (5 mcg/kg/min of dopamine at the
 * library's concentration) into a pump rate and decides: within limits,
 * beyond a soft limit (needs a confirmation and a reason), beyond a hard
 * limit (refused), or not allowed at all (unknown drug, drug not available
 * in the care area, basic infusion where the care area forbids it).
 * Pure logic: no I/O, no clock. */

#include <stdbool.h>
#include <stdint.h>

#include "safety/dose.h"
#include "safety/library.h"

struct pca_program;

struct ders_request {
        const char *care_area;          /* required when a library is in use */
        const char *drug;               /* NULL: a basic infusion (no library drug) */
        int concentration;              /* index into the drug's concentrations; -1: the only one */
        bool have_strength;             /* the concentration given by value instead: */
        struct concentration strength;  /* matched exactly against the drug's */
        bool have_dose;                 /* dose_rate given (else rate_nl_per_h is the program) */
        double dose_rate;               /* in dose_unit */
        const char *dose_unit;          /* NULL: the drug's own unit */
        struct patient patient;
        int64_t rate_nl_per_h;          /* a rate given in mL/h instead of a dose */
        bool confirm_soft_limits;
        const char *override_reason;
        /* Not a dose limit, but chosen with them: the downstream occlusion
         * limit for this program, mmHg; 0: the care area's default. */
        double occlusion_limit_mmhg;
        /* Resolve the care area, drug and concentration (and refuse what
         * is unknown) but judge no rate: for programs whose limits are
         * not a rate (PCA, judged by pca_check()). */
        bool resolve_only;
        /* Mode=pca: the PCA parameters as given (safety/pca-check.h);
         * NULL otherwise. */
        struct pca_program *pca;
};

enum ders_outcome {
        DERS_ACCEPTED,                  /* within every limit, or a basic infusion allowed here */
        DERS_OVERRIDDEN,                /* beyond a soft limit, confirmed with a reason */
        DERS_SOFT_UNCONFIRMED,          /* beyond a soft limit without confirmation or reason */
        DERS_HARD_LIMIT,                /* beyond a hard limit */
        DERS_UNKNOWN,                   /* unknown drug or care area, or drug not available there */
        DERS_INVALID,                   /* a value missing or wrong (weight, unit, index...) */
        DERS_NOT_ALLOWED,               /* a basic infusion where the care area forbids it */
        _DERS_OUTCOME_MAX,
};

struct ders_result {
        enum ders_outcome outcome;
        int64_t rate_nl_per_h;          /* the pump rate (valid when accepted or overridden) */
        double dose_rate;               /* the dose rate in the drug's unit (NAN for basic) */
        const struct care_area *care_area;
        const struct drug *drug;        /* NULL for basic */
        const struct concentration *concentration;
        enum limit_verdict verdict;
        const char *field;              /* the key at fault, for InvalidArgument */
        char message[512];              /* for a person: names the limit, the value and the unit */
};

/* lib may be NULL: no library loaded; then only basic infusions exist and
 * every one is accepted (a pump fresh out of the box). */
void ders_check(const struct drug_library *lib, const struct ders_request *req, struct ders_result *ret);

const char *ders_outcome_to_string(enum ders_outcome o);
