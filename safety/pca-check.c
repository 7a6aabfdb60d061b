/* SPDX-License-Identifier: MIT */
#include "safety/pca-check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/macros.h"
#include "common/units.h"

/* Long enough for "LimitMl 123.456789 mL (123.457 mcg/kg) per 12 h (up to
 * 1234.57 mcg/kg per 12 h)" with room to spare. */
#define GIVEN_MAX 128

/* One parameter of the program as it is judged: the value in the unit of
 * its library limits, and how to name it to a person. */
struct param {
        const char *field;              /* the D-Bus key the clinician used */
        double value;                   /* in unit; what limit_check() judges */
        const struct dose_limits *limits;
        char given[GIVEN_MAX];          /* the key and the value as given: "PcaDoseMl 3 mL (3 mg)" */
        char unit[DOSE_UNIT_STRING_MAX]; /* of value and limits: "mg", "min", "mg/h"; "" for a count */
        char per[32];                   /* after a limit: " per 4 h" for the cumulative limit */
};

__attribute__((format(printf, 4, 5)))
static void set(struct pca_check_result *r, enum ders_outcome o, const char *field, const char *format, ...) {
        va_list ap;

        r->outcome = o;
        r->field = field;
        va_start(ap, format);
        vsnprintf(r->message, sizeof r->message, format, ap);
        va_end(ap);
}

__attribute__((format(printf, 3, 4)))
static void format_into(char *buf, size_t size, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(buf, size, format, ap);
        va_end(ap);
}

/* " mg", or "" for a count, so "12" is not followed by a stray space. */
static const char *spaced(const char *unit, char *buf, size_t size) {
        if (!unit[0])
                return "";
        format_into(buf, size, " %s", unit);
        return buf;
}

static bool volume_present(const struct pca_volume *v) {
        return v->as_amount ? v->amount != 0 : v->nl != 0;
}

/* Fill the other side of v (amount in u, or nL), and describe it in
 * given as the clinician gave it. per_hour: v is a rate (unit/h, nL/h),
 * converted as the amount or volume of one hour. false with *r filled
 * when it cannot be converted. */
static bool convert(struct pca_check_result *res, struct pca_volume *v, const char *key_amount, const char *key_ml,
                    bool per_hour, const struct dose_unit *u, const struct concentration *conc,
                    const struct patient *patient, struct param *ret) {
        struct dose_unit shown = *u;
        struct dose_error derr = {};
        char a[LIBRARY_NUMBER_MAX], unit[DOSE_UNIT_STRING_MAX];
        const char *field = v->as_amount ? key_amount : key_ml;
        const char *ml = per_hour ? "mL/h" : "mL";
        int r;

        if (per_hour)
                shown.time = DOSE_TIME_H;
        dose_unit_to_string(&shown, unit, sizeof unit);

        if (v->as_amount) {
                if (!(isfinite(v->amount) && v->amount > 0)) {
                        set(res, DERS_INVALID, field, "%s %s %s must be a number above 0", field,
                            library_number_to_string(v->amount, a), unit);
                        return false;
                }
                r = dose_amount_to_nl(v->amount, u, conc, patient, &v->nl, &derr);
        } else {
                if (v->nl <= 0) {
                        set(res, DERS_INVALID, field, "%s %s %s must be above 0", field,
                            library_number_to_string(units_nl_to_ml(v->nl), a), ml);
                        return false;
                }
                r = dose_amount_from_nl(v->nl, u, conc, patient, &v->amount, &derr);
        }
        if (r < 0) {
                /* dose.c names its own keys (it serves boluses too); the
                 * clinician gave this one, so the text is put under it.
                 * A missing weight or concentration is the key to fix. */
                static const char *const dose_keys[] = { "DoseAmountUnit ", "DoseAmount ", "BolusMl " };
                const char *text = derr.text;
                for (size_t i = 0; i < ELEMENTSOF(dose_keys); i++)
                        if (strncmp(text, dose_keys[i], strlen(dose_keys[i])) == 0) {
                                text += strlen(dose_keys[i]);
                                break;
                        }
                bool other = derr.field && (streq(derr.field, "PatientWeightKg") ||
                                            streq(derr.field, "PatientHeightCm") ||
                                            streq(derr.field, "Concentration"));
                set(res, DERS_INVALID, other ? derr.field : field, "%s: %s", field, text);
                return false;
        }

        ret->field = field;
        ret->value = v->amount;
        snprintf(ret->unit, sizeof ret->unit, "%s", unit);
        if (v->as_amount)
                format_into(ret->given, sizeof ret->given, "%s %s %s", field, library_number_to_string(v->amount, a),
                            unit);
        else
                format_into(ret->given, sizeof ret->given, "%s %s %s (%.6g %s)", field,
                            library_number_to_string(units_nl_to_ml(v->nl), a), ml, v->amount, unit);
        return true;
}

/* The hard limit p breaks, as a result; false if none. */
static bool judge_hard(struct pca_check_result *res, const struct param *p, const char *drug, const char *area) {
        enum limit_verdict v = limit_check(p->limits, p->value);
        char a[LIBRARY_NUMBER_MAX], s[DOSE_UNIT_STRING_MAX + 1];

        if (v != LIMIT_HARD_LOW && v != LIMIT_HARD_HIGH)
                return false;
        bool low = v == LIMIT_HARD_LOW;
        set(res, DERS_HARD_LIMIT, p->field, "%s is %s the hard %s of %s%s%s for %s in %s: it cannot be given; reprogram",
            p->given, low ? "below" : "above", low ? "minimum" : "maximum",
            library_number_to_string(low ? p->limits->hard_min : p->limits->hard_max, a),
            spaced(p->unit, s, sizeof s), p->per, drug, area);
        return true;
}

/* "PcaDose 2.5 mg is above the soft maximum of 2 mg" into buf, if p
 * crosses a soft limit. */
static bool describe_soft(const struct param *p, char *buf, size_t size) {
        enum limit_verdict v = limit_check(p->limits, p->value);
        char a[LIBRARY_NUMBER_MAX], s[DOSE_UNIT_STRING_MAX + 1];

        if (v != LIMIT_SOFT_LOW && v != LIMIT_SOFT_HIGH)
                return false;
        bool low = v == LIMIT_SOFT_LOW;
        format_into(buf, size, "%s is %s the soft %s of %s%s%s", p->given, low ? "below" : "above",
                    low ? "minimum" : "maximum",
                    library_number_to_string(low ? p->limits->soft_min : p->limits->soft_max, a),
                    spaced(p->unit, s, sizeof s), p->per);
        return true;
}

void pca_check(const struct drug *drug, const struct drug_limits *dl, const char *care_area_id,
               const struct concentration *conc, const struct patient *patient, bool confirm_soft,
               const char *override_reason, struct pca_program *prog, struct pca_check_result *ret) {
        struct param params[6] = {};
        size_t n = 0;
        char a[LIBRARY_NUMBER_MAX], b[LIBRARY_NUMBER_MAX];
        const char *area = care_area_id ?: "?";

        *ret = (struct pca_check_result) { .outcome = DERS_ACCEPTED };

        if (!drug) {
                /* Outside the library there is no PCA unit to convert
                 * from: only volumes mean anything. */
                const struct {
                        const struct pca_volume *v;
                        const char *amount_key, *ml_key;
                } volumes[] = {
                        { &prog->dose, "PcaDose", "PcaDoseMl" },
                        { &prog->limit, "LimitDose", "LimitMl" },
                        { &prog->basal, "BasalDose", "BasalRateMlPerHour" },
                        { &prog->loading, "LoadingDose", "LoadingDoseMl" },
                };
                for (size_t i = 0; i < ELEMENTSOF(volumes); i++)
                        if (volumes[i].v->as_amount)
                                return set(ret, DERS_INVALID, volumes[i].amount_key,
                                           "%s needs a library drug; give %s", volumes[i].amount_key,
                                           volumes[i].ml_key);
                return;
        }

        if (!dl || !dl->pca.allowed)
                return set(ret, DERS_HARD_LIMIT, "Mode", "The library allows no PCA of %s in %s: choose another "
                           "drug or mode", drug->name, area);
        const struct pca_limits *pca = &dl->pca;
        dose_unit_to_string(&pca->unit, ret->unit, sizeof ret->unit);

        if (!conc && pca->unit.amount != DOSE_AMOUNT_ML)
                return set(ret, DERS_INVALID, "Concentration", "PCA of %s is dosed in %s: choose its Concentration",
                           drug->name, ret->unit);
        /* What pca_check() divides by or judges as a count must be a
         * positive number before anything else. */
        if (prog->lockout_us <= 0)
                return set(ret, DERS_INVALID, "LockoutSec", "LockoutSec must be above 0");
        if (prog->max_doses_per_hour == 0)
                return set(ret, DERS_INVALID, "MaxDosesPerHour", "MaxDosesPerHour must be above 0");
        if (prog->window_us <= 0)
                return set(ret, DERS_INVALID, "LimitWindowSec", "LimitWindowSec must be above 0");

        /* Demand dose. */
        struct param *p = &params[n++];
        if (!convert(ret, &prog->dose, "PcaDose", "PcaDoseMl", false, &pca->unit, conc, patient, p))
                return;
        p->limits = &pca->demand;

        /* Lockout: set in seconds, limited in minutes. */
        p = &params[n++];
        *p = (struct param) { .field = "LockoutSec", .value = (double) prog->lockout_us / US_PER_MIN,
                              .limits = &pca->lockout_min, .unit = "min" };
        format_into(p->given, sizeof p->given, "LockoutSec %s (%.6g min)",
                    library_number_to_string((double) prog->lockout_us / US_PER_SEC, a), p->value);

        p = &params[n++];
        *p = (struct param) { .field = "MaxDosesPerHour", .value = prog->max_doses_per_hour,
                              .limits = &pca->doses_per_hour };
        format_into(p->given, sizeof p->given, "MaxDosesPerHour %u", prog->max_doses_per_hour);

        /* Cumulative limit: a program window shorter than the library's
         * lets the limit through once per program window that starts in
         * the library's, ceil(library / program) times. Counted in whole
         * microseconds so 4 h over 1 h is 4, not 4.000000001 -> 5. */
        p = &params[n++];
        if (!convert(ret, &prog->limit, "LimitDose", "LimitMl", false, &pca->unit, conc, patient, p))
                return;
        p->limits = &pca->limit;
        if (!isnan(pca->window_h)) {
                int64_t library_us = llround(pca->window_h * US_PER_HOUR);
                size_t len = strlen(p->given);

                format_into(p->given + len, sizeof p->given - len, " per %.6g h",
                            (double) prog->window_us / US_PER_HOUR);
                format_into(p->per, sizeof p->per, " per %s h", library_number_to_string(pca->window_h, a));
                if (prog->window_us < library_us) {
                        int64_t times = (library_us + prog->window_us - 1) / prog->window_us;
                        p->value *= (double) times;
                        len = strlen(p->given);
                        format_into(p->given + len, sizeof p->given - len, " (up to %.6g %s per %s h)", p->value,
                                    p->unit, library_number_to_string(pca->window_h, b));
                }
        }

        /* Basal rate, optional: in the PCA unit per hour. */
        struct param *basal = NULL;
        if (volume_present(&prog->basal)) {
                basal = &params[n++];
                if (!convert(ret, &prog->basal, "BasalDose", "BasalRateMlPerHour", true, &pca->unit, conc, patient,
                             basal))
                        return;
                basal->limits = &pca->basal;
        }

        /* Loading dose, optional: judged as the loading dose of the drug
         * in this area, in its own unit. Not converted when none is
         * allowed, as there is then no unit to convert to. */
        struct param *loading = NULL;
        if (volume_present(&prog->loading) && dl->loading.allowed) {
                loading = &params[n++];
                if (!convert(ret, &prog->loading, "LoadingDose", "LoadingDoseMl", false, &dl->loading.unit, conc,
                             patient, loading))
                        return;
                loading->limits = &dl->loading.limits;
        }

        /* Hard limits, in the order of the parameters. */
        for (size_t i = 0; i < n; i++) {
                if (&params[i] == basal && !pca->basal_allowed)
                        return set(ret, DERS_HARD_LIMIT, basal->field,
                                   "%s: the library allows no basal rate with PCA of %s in %s; give none",
                                   basal->given, drug->name, area);
                if (judge_hard(ret, &params[i], drug->name, area))
                        return;
        }
        if (volume_present(&prog->loading) && !dl->loading.allowed)
                return set(ret, DERS_HARD_LIMIT, prog->loading.as_amount ? "LoadingDose" : "LoadingDoseMl",
                           "The library allows no loading dose of %s in %s; give none", drug->name, area);

        /* Soft limits: every one crossed is named, so the override
         * recorded for pharmacy says all that was overridden. */
        char crossed[6][GIVEN_MAX + 96];
        const char *first_field = NULL;
        size_t n_crossed = 0;
        for (size_t i = 0; i < n; i++)
                if (describe_soft(&params[i], crossed[n_crossed], sizeof crossed[n_crossed])) {
                        if (!first_field)
                                first_field = params[i].field;
                        n_crossed++;
                }
        if (n_crossed == 0)
                return;

        if (!confirm_soft || !override_reason || !override_reason[0])
                return set(ret, DERS_SOFT_UNCONFIRMED, first_field,
                           "%s for %s in %s: confirm with ConfirmSoftLimits=true and give an OverrideReason",
                           crossed[0], drug->name, area);

        char list[sizeof ret->message] = "";
        for (size_t i = 0; i < n_crossed; i++) {
                size_t len = strlen(list);
                format_into(list + len, sizeof list - len, "%s%s",
                            i == 0 ? "" : i + 1 == n_crossed ? " and " : ", ", crossed[i]);
        }
        set(ret, DERS_OVERRIDDEN, first_field, "%s for %s in %s; overridden: %.120s", list, drug->name, area,
            override_reason);
}
