/* SPDX-License-Identifier: MIT */
#include "safety/ders.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/utf8.h"

static const char *const outcome_names[_DERS_OUTCOME_MAX] = {
        [DERS_ACCEPTED] = "accepted",
        [DERS_OVERRIDDEN] = "soft-limit-overridden",
        [DERS_SOFT_UNCONFIRMED] = "soft-limit-unconfirmed",
        [DERS_HARD_LIMIT] = "hard-limit",
        [DERS_UNKNOWN] = "unknown",
        [DERS_INVALID] = "invalid",
        [DERS_NOT_ALLOWED] = "basic-infusion-not-allowed",
};

const char *ders_outcome_to_string(enum ders_outcome o) {
        return (unsigned) o < _DERS_OUTCOME_MAX ? outcome_names[o] : "invalid";
}

static void set(struct ders_result *r, enum ders_outcome o, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static void set(struct ders_result *r, enum ders_outcome o, const char *field, const char *fmt, ...) {
        va_list ap;
        r->outcome = o;
        r->field = field;
        va_start(ap, fmt);
        vsnprintf(r->message, sizeof(r->message), fmt, ap);
        va_end(ap);
        utf8_scrub(r->message);         /* "%.24s" can cut a character */
}

static void list_care_areas(const struct drug_library *lib, char *buf, size_t size) {
        size_t used = 0;
        buf[0] = 0;
        for (size_t i = 0; i < lib->n_care_areas && used < size; i++)
                used += snprintf(buf + used, size - used, "%s%s", i ? ", " : "", lib->care_areas[i].id);
}

/* Judge the dose against the limits and fill the verdict and message. */
static void judge(struct ders_result *r, const struct ders_request *req, const struct dose_limits *l,
                  const char *unit) {
        char a[LIBRARY_NUMBER_MAX], b[LIBRARY_NUMBER_MAX];
        const char *drug = r->drug->name, *area = r->care_area->id;

        r->verdict = limit_check(l, r->dose_rate);
        switch (r->verdict) {
        case LIMIT_OK:
                r->outcome = DERS_ACCEPTED;
                return;
        case LIMIT_HARD_LOW:
        case LIMIT_HARD_HIGH: {
                bool low = r->verdict == LIMIT_HARD_LOW;
                set(r, DERS_HARD_LIMIT, "DoseRate",
                    "DoseRate %s %s is %s the hard %s of %s %s for %s in %s: it cannot be given; reprogram",
                    library_number_to_string(r->dose_rate, a), unit, low ? "below" : "above",
                    low ? "minimum" : "maximum", library_number_to_string(low ? l->hard_min : l->hard_max, b),
                    unit, drug, area);
                return;
        }
        case LIMIT_SOFT_LOW:
        case LIMIT_SOFT_HIGH: {
                bool low = r->verdict == LIMIT_SOFT_LOW;
                bool reason = req->override_reason && req->override_reason[0];
                if (req->confirm_soft_limits && reason) {
                        set(r, DERS_OVERRIDDEN, NULL,
                            "DoseRate %s %s is %s the soft %s of %s %s for %s in %s; overridden: %.120s",
                            library_number_to_string(r->dose_rate, a), unit, low ? "below" : "above",
                            low ? "minimum" : "maximum", library_number_to_string(low ? l->soft_min : l->soft_max, b),
                            unit, drug, area, req->override_reason);
                        return;
                }
                set(r, DERS_SOFT_UNCONFIRMED, "ConfirmSoftLimits",
                    "DoseRate %s %s is %s the soft %s of %s %s for %s in %s: confirm with ConfirmSoftLimits=true and give an OverrideReason",
                    library_number_to_string(r->dose_rate, a), unit, low ? "below" : "above",
                    low ? "minimum" : "maximum", library_number_to_string(low ? l->soft_min : l->soft_max, b),
                    unit, drug, area);
                return;
        }
        default:
                set(r, DERS_INVALID, "DoseRate", "DoseRate %s %s is not a valid dose", library_number_to_string(r->dose_rate, a), unit);
                return;
        }
}

void ders_check(const struct drug_library *lib, const struct ders_request *req, struct ders_result *r) {
        char areas[256], unit[DOSE_UNIT_STRING_MAX];
        struct dose_error derr = {};

        *r = (struct ders_result) { .rate_nl_per_h = req->rate_nl_per_h, .dose_rate = NAN };

        if (!lib) {
                if (req->drug || req->have_dose)
                        return set(r, DERS_UNKNOWN, "Drug", "No drug library is loaded: program a rate in mL/h, or import a library first");
                r->outcome = DERS_ACCEPTED;
                return;
        }

        if (!req->care_area || !req->care_area[0]) {
                list_care_areas(lib, areas, sizeof(areas));
                return set(r, DERS_INVALID, "CareArea", "CareArea is required with a drug library loaded (allowed: %s)", areas);
        }
        r->care_area = drug_library_find_care_area(lib, req->care_area);
        if (!r->care_area) {
                list_care_areas(lib, areas, sizeof(areas));
                return set(r, DERS_UNKNOWN, "CareArea", "Care area \"%.64s\" is not in library %.64s (allowed: %s)",
                           req->care_area, lib->version, areas);
        }

        if (!req->drug) {
                if (req->have_dose)
                        return set(r, DERS_INVALID, "Drug", "DoseRate needs a Drug; a basic infusion is programmed in mL/h");
                if (!r->care_area->allow_basic_infusion)
                        return set(r, DERS_NOT_ALLOWED, "Drug",
                                   "Care area %s does not allow infusions outside the drug library: choose a Drug",
                                   r->care_area->id);
                r->outcome = DERS_ACCEPTED;
                return;
        }

        r->drug = drug_library_find_drug(lib, req->drug);
        if (!r->drug)
                return set(r, DERS_UNKNOWN, "Drug", "Drug \"%.64s\" is not in library %.64s", req->drug, lib->version);
        const struct drug_limits *dl = drug_limits_for(r->drug, r->care_area->id);
        if (!dl)
                return set(r, DERS_UNKNOWN, "Drug", "%s is not available in care area %s", r->drug->name, r->care_area->id);

        dose_unit_to_string(&r->drug->dose_unit, unit, sizeof(unit));
        if (req->dose_unit && strcmp(req->dose_unit, unit) != 0)
                return set(r, DERS_INVALID, "DoseRateUnit", "DoseRateUnit %.24s does not match %s's unit in the library (allowed: %s)",
                           req->dose_unit, r->drug->name, unit);

        /* The concentration: given by index, or the only one. A fluid
         * (mL/h) needs none. */
        bool volume_unit = r->drug->dose_unit.amount == DOSE_AMOUNT_ML;
        if (!volume_unit) {
                int idx = req->concentration;
                if (req->have_strength) {
                        const struct concentration *k = drug_find_concentration(r->drug, &req->strength);
                        if (!k) {
                                char a[LIBRARY_NUMBER_MAX], v[LIBRARY_NUMBER_MAX];
                                return set(r, DERS_INVALID, "Concentration",
                                           "%s is not stocked as %s %s / %s mL in library %.64s (see DrugLibrary.GetDrug)",
                                           r->drug->name, library_number_to_string(req->strength.amount, a),
                                           dose_amount_to_string(req->strength.amount_unit) ?: "?",
                                           library_number_to_string(req->strength.volume_ml, v), lib->version);
                        }
                        idx = (int) (k - r->drug->concentrations);
                }
                if (idx < 0 && r->drug->n_concentrations == 1)
                        idx = 0;
                if (idx < 0 || (size_t) idx >= r->drug->n_concentrations)
                        return set(r, DERS_INVALID, "Concentration",
                                   "%s has %zu concentrations: give Concentration as an index from 0 to %zu",
                                   r->drug->name, r->drug->n_concentrations, r->drug->n_concentrations - 1);
                r->concentration = &r->drug->concentrations[idx];
        }

        if (req->resolve_only) {
                r->outcome = DERS_ACCEPTED;
                return;
        }
        if (req->have_dose) {
                r->dose_rate = req->dose_rate;
                if (dose_rate_to_nl_per_h(req->dose_rate, &r->drug->dose_unit, r->concentration, &req->patient,
                                          &r->rate_nl_per_h, &derr) < 0)
                        return set(r, DERS_INVALID, derr.field ?: "DoseRate", "%s", derr.text);
        } else {
                /* A rate in mL/h for a library drug is judged as the dose it gives. */
                if (req->rate_nl_per_h <= 0)
                        return set(r, DERS_INVALID, "DoseRate", "Give DoseRate in %s (or RateMlPerHour) for %s", unit, r->drug->name);
                if (dose_rate_from_nl_per_h(req->rate_nl_per_h, &r->drug->dose_unit, r->concentration, &req->patient,
                                            &r->dose_rate, &derr) < 0)
                        return set(r, DERS_INVALID, derr.field ?: "RateMlPerHour", "%s", derr.text);
        }
        judge(r, req, &dl->dose, unit);
}
