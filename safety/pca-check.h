/* SPDX-License-Identifier: MIT */
#pragma once

/* A PCA program checked against the drug library before the pump accepts
 * it: each parameter (demand dose, lockout, doses per hour, cumulative
 * limit, basal rate, loading dose) converted between mL and the library's
 * PCA unit and judged against that care area's hard and soft limits.
 * Pure logic: no I/O, no clock. The rules are docs/LIBRARY.md, "pca". */

#include <stdbool.h>
#include <stdint.h>

#include "safety/ders.h"
#include "safety/dose.h"
#include "safety/library.h"

/* One volume the clinician gave either in mL or as an amount in the
 * library's PCA unit (mg, mcg/kg ...). */
struct pca_volume {
        bool as_amount;
        double amount;                  /* when as_amount; else filled by pca_check */
        int64_t nl;                     /* when !as_amount; else filled by pca_check */
};

/* A PCA program as given. A zero (or !as_amount with nl 0) basal or
 * loading means none. */
struct pca_program {
        struct pca_volume dose;         /* each demand dose */
        int64_t lockout_us;
        unsigned max_doses_per_hour;
        struct pca_volume limit;        /* cumulative, over window_us */
        int64_t window_us;
        struct pca_volume basal;        /* per hour: nl is nL/h, amount is unit/h */
        struct pca_volume loading;
        /* Not judged: pass-through for the pump. */
        int64_t bolus_rate_nl_per_h;    /* 0: the configured default */
        int64_t limit_kvo_nl_per_h;     /* -1: by the library's limit_action */
        bool new_patient;               /* forget the channel's PCA history */
};

struct pca_check_result {
        enum ders_outcome outcome;      /* ACCEPTED, OVERRIDDEN, SOFT_UNCONFIRMED, HARD_LIMIT, INVALID */
        const char *field;              /* the D-Bus key at fault: "PcaDoseMl", "LockoutSec" ... */
                                        /* (for a volume, the key it was given in: "BasalDose" for
                                         * a basal rate given as an amount, "BasalRateMlPerHour" in mL;
                                         * when overridden, the first soft limit crossed) */
        char unit[DOSE_UNIT_STRING_MAX];/* the PCA unit ("mg"); "" for a basic PCA */
        /* For a person: the first problem, naming the value, the limit and
         * the unit; when overridden, every soft limit crossed. */
        char message[512];
};

/* Check prog for drug (NULL: a basic PCA, outside the library) in care
 * area care_area_id, with the drug's limits there (dl, non-NULL with a
 * drug) and the concentration chosen (NULL only for a drug in mL).
 * Fills the other side of each pca_volume (mL <-> amount); an amount the
 * mechanism cannot resolve is left to the channel, which refuses it.
 *
 * Order: the library must allow PCA here (else HARD_LIMIT, field "Mode");
 * amounts need a drug and a concentration (else INVALID); then every
 * parameter against its hard limits (the first breach is the result),
 * then its soft limits: crossed soft limits need confirm_soft and a
 * non-empty override_reason (else SOFT_UNCONFIRMED naming the first),
 * and give OVERRIDDEN when confirmed. A basal rate where the library
 * allows none is HARD_LIMIT (field "BasalRateMlPerHour"). The loading
 * dose is judged against dl->loading (not allowed there: HARD_LIMIT).
 *
 * The cumulative limit is judged as the most the program lets through
 * in the library's window: limit * ceil(window_h / program window) when
 * the program's window is shorter, else the limit itself. */
void pca_check(const struct drug *drug, const struct drug_limits *dl, const char *care_area_id,
               const struct concentration *conc, const struct patient *patient, bool confirm_soft,
               const char *override_reason, struct pca_program *prog, struct pca_check_result *ret);
