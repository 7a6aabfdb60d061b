/* SPDX-License-Identifier: MIT */
#include "safety/dose.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/units.h"

/* Every result, in nL or nL/h, lies in [1, 10^13]. Below one nanolitre
 * there is nothing to deliver. 10^13 nL/h (10000 L/h) is far above any
 * pump, so the channel's own limits decide the real maximum, and it keeps
 * every product far inside int64. */
#define RESULT_MIN_NL INT64_C(1)
#define RESULT_MAX_NL INT64_C(10000000000000)

/* How far the one rounding to whole nanolitres may move a result. */

enum family {
        FAMILY_VOLUME,
        FAMILY_MASS,
        FAMILY_UNITS,
        FAMILY_MEQ,
        FAMILY_MMOL,
};

/* Each amount as a whole number of its family's smallest unit (ng,
 * milliunits): converting between two amounts of one family is then one
 * division of exact integers, where factors to mg (0.001, 1e-6) have no
 * exact binary form and would each add a rounding. */
static const struct {
        const char *name;
        enum family family;
        long double in_smallest;
} amounts[_DOSE_AMOUNT_MAX] = {
        [DOSE_AMOUNT_ML]         = { "mL",         FAMILY_VOLUME, 1 },
        [DOSE_AMOUNT_G]          = { "g",          FAMILY_MASS,   1000000000 },
        [DOSE_AMOUNT_MG]         = { "mg",         FAMILY_MASS,   1000000 },
        [DOSE_AMOUNT_MCG]        = { "mcg",        FAMILY_MASS,   1000 },
        [DOSE_AMOUNT_NG]         = { "ng",         FAMILY_MASS,   1 },
        [DOSE_AMOUNT_UNITS]      = { "units",      FAMILY_UNITS,  1000 },
        [DOSE_AMOUNT_MILLIUNITS] = { "milliunits", FAMILY_UNITS,  1 },
        [DOSE_AMOUNT_MEQ]        = { "mEq",        FAMILY_MEQ,    1 },
        [DOSE_AMOUNT_MMOL]       = { "mmol",       FAMILY_MMOL,   1 },
};

static const char *const basis_suffixes[_DOSE_BASIS_MAX] = {
        [DOSE_BASIS_NONE] = "",
        [DOSE_BASIS_KG] = "/kg",
        [DOSE_BASIS_M2] = "/m2",
};

static const char *const time_suffixes[_DOSE_TIME_MAX] = {
        [DOSE_TIME_NONE] = "",
        [DOSE_TIME_MIN] = "/min",
        [DOSE_TIME_H] = "/h",
};

static bool amount_valid(enum dose_amount a) {
        return (unsigned) a < _DOSE_AMOUNT_MAX;
}

static bool unit_valid(const struct dose_unit *u) {
        return u && amount_valid(u->amount) &&
                (unsigned) u->basis < _DOSE_BASIS_MAX &&
                (unsigned) u->time < _DOSE_TIME_MAX;
}

const char *dose_amount_to_string(enum dose_amount a) {
        return amount_valid(a) ? amounts[a].name : NULL;
}

int dose_amount_parse(const char *s, enum dose_amount *ret) {
        if (!s)
                return -EINVAL;
        for (int a = 0; a < _DOSE_AMOUNT_MAX; a++)
                if (strcmp(s, amounts[a].name) == 0) {
                        *ret = a;
                        return 0;
                }
        return -EINVAL;
}

const char *dose_unit_to_string(const struct dose_unit *u, char *buf, size_t size) {
        if (!unit_valid(u) || !buf)
                return NULL;
        int n = snprintf(buf, size, "%s%s%s",
                         amounts[u->amount].name, basis_suffixes[u->basis], time_suffixes[u->time]);
        if (n < 0 || (size_t) n >= size)
                return NULL;
        return buf;
}

int dose_unit_parse(const char *s, struct dose_unit *ret) {
        if (!s)
                return -EINVAL;
        /* Compare against every printed spelling rather than split on '/':
         * parsing then accepts exactly what printing produces, and nothing
         * else ("mg/", "mcg/min/kg", "MG/h") by construction. */
        for (int a = 0; a < _DOSE_AMOUNT_MAX; a++)
                for (int b = 0; b < _DOSE_BASIS_MAX; b++)
                        for (int t = 0; t < _DOSE_TIME_MAX; t++) {
                                struct dose_unit u = { a, b, t };
                                char buf[DOSE_UNIT_STRING_MAX];
                                if (dose_unit_to_string(&u, buf, sizeof(buf)) && strcmp(s, buf) == 0) {
                                        *ret = u;
                                        return 0;
                                }
                        }
        return -EINVAL;
}

bool dose_amounts_compatible(enum dose_amount dose, enum dose_amount conc) {
        if (!amount_valid(dose) || !amount_valid(conc))
                return false;
        if (dose == DOSE_AMOUNT_ML)
                return true;
        return amounts[dose].family == amounts[conc].family;
}

/* NaN fails both comparisons, so it is never in range. */
static bool weight_in_range(double kg) {
        return kg >= WEIGHT_KG_MIN && kg <= WEIGHT_KG_MAX;
}

static bool height_in_range(double cm) {
        return cm >= HEIGHT_CM_MIN && cm <= HEIGHT_CM_MAX;
}

double dose_bsa_m2(const struct patient *p) {
        if (!p || !weight_in_range(p->weight_kg) || !height_in_range(p->height_cm))
                return NAN;
        return (double) sqrtl((long double) p->height_cm * p->weight_kg / 3600);
}

static int fail(struct dose_error *err, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int fail(struct dose_error *err, const char *field, const char *fmt, ...) {
        if (err) {
                va_list ap;
                err->field = field;
                va_start(ap, fmt);
                vsnprintf(err->text, sizeof(err->text), fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static int check_weight(const struct patient *p, const char *unit_field, const char *unit,
                        struct dose_error *err) {
        if (!p || p->weight_kg == 0)
                return fail(err, "PatientWeightKg", "%s %s needs PatientWeightKg", unit_field, unit);
        if (!weight_in_range(p->weight_kg))
                return fail(err, "PatientWeightKg", "PatientWeightKg %.6g is outside %.6g to %.6g kg",
                            p->weight_kg, WEIGHT_KG_MIN, WEIGHT_KG_MAX);
        return 0;
}

static int check_height(const struct patient *p, const char *unit_field, const char *unit,
                        struct dose_error *err) {
        if (!p || p->height_cm == 0)
                return fail(err, "PatientHeightCm",
                            "%s %s needs PatientHeightCm (with PatientWeightKg) for the body surface area",
                            unit_field, unit);
        if (!height_in_range(p->height_cm))
                return fail(err, "PatientHeightCm", "PatientHeightCm %.6g is outside %.6g to %.6g cm",
                            p->height_cm, HEIGHT_CM_MIN, HEIGHT_CM_MAX);
        return 0;
}

/* Validates everything but the dose value and returns, as *ret_ml_per_dose,
 * the mL that one unit of dose comes to: per hour for a rate, once for an
 * amount. Also prints the unit into unit_str for the caller's messages. */
static int ml_per_dose(bool rate, const struct dose_unit *u, const struct concentration *c,
                       const struct patient *p, char unit_str[static DOSE_UNIT_STRING_MAX],
                       long double *ret_ml_per_dose, struct dose_error *err) {
        const char *unit_field = rate ? "DoseRateUnit" : "DoseAmountUnit";
        int r;

        if (!dose_unit_to_string(u, unit_str, DOSE_UNIT_STRING_MAX))
                return fail(err, unit_field, "%s is not a valid unit", unit_field);
        if (rate && u->time == DOSE_TIME_NONE)
                return fail(err, unit_field, "%s %s has no time: a dose rate is per min or per h",
                            unit_field, unit_str);
        if (!rate && u->time != DOSE_TIME_NONE)
                return fail(err, unit_field,
                            "%s %s is a rate: a bolus or loading dose is an amount such as mg or mg/kg",
                            unit_field, unit_str);

        /* Concentration: mL of solution per unit of dose amount. A dose in
         * mL is already a volume and needs none, so c is not even read. */
        long double ml_per_amount = 1;
        if (u->amount != DOSE_AMOUNT_ML) {
                if (!c)
                        return fail(err, "Concentration", "%s %s needs a Concentration", unit_field, unit_str);
                if (!amount_valid(c->amount_unit) || c->amount_unit == DOSE_AMOUNT_ML)
                        return fail(err, "Concentration",
                                    "Concentration must be an amount of drug (g, mg, mcg, ng, units, milliunits, mEq, mmol) in a volume in mL");
                if (!(isfinite(c->amount) && c->amount > 0 && isfinite(c->volume_ml) && c->volume_ml > 0))
                        return fail(err, "Concentration",
                                    "Concentration %.6g %s in %.6g mL: amount and volume must be finite numbers above 0",
                                    c->amount, amounts[c->amount_unit].name, c->volume_ml);
                if (!dose_amounts_compatible(u->amount, c->amount_unit))
                        return fail(err, unit_field, "%s %s cannot be given from a concentration in %s",
                                    unit_field, unit_str, amounts[c->amount_unit].name);
                ml_per_amount = amounts[u->amount].in_smallest * (long double) c->volume_ml /
                        (amounts[c->amount_unit].in_smallest * (long double) c->amount);
        }

        long double basis = 1;
        switch (u->basis) {
        case DOSE_BASIS_NONE:
                break;
        case DOSE_BASIS_KG:
                r = check_weight(p, unit_field, unit_str, err);
                if (r < 0)
                        return r;
                basis = p->weight_kg;
                break;
        case DOSE_BASIS_M2:
                r = check_weight(p, unit_field, unit_str, err);
                if (r < 0)
                        return r;
                r = check_height(p, unit_field, unit_str, err);
                if (r < 0)
                        return r;
                basis = sqrtl((long double) p->height_cm * p->weight_kg / 3600);
                break;
        default:
                return -EINVAL;         /* unit_valid() already refused it */
        }

        /* The pump runs in nL/h: a dose per minute runs 60 times an hour. */
        long double per_h = u->time == DOSE_TIME_MIN ? 60 : 1;

        *ret_ml_per_dose = basis * per_h * ml_per_amount;
        return 0;
}

/* Rounds exact_nl (nL/h for a rate, nL for an amount) to the nearest whole
 * nL once, refusing when the result is out of range. field, value and unit_str name the input that
 * led here, for the message. */
static int round_nl(bool rate, long double exact_nl, const char *field, double value, const char *unit_str,
                    int64_t *ret_nl, struct dose_error *err) {
        const char *ml_unit = rate ? "mL/h" : "mL";
        long double exact_ml = exact_nl / NL_PER_ML;

        /* Same as asking whether the rounded result lies in [MIN, MAX], but
         * asked before llroundl(), whose result is unspecified out of range. */
        if (!isfinite(exact_nl) || exact_nl < RESULT_MIN_NL - 0.5L || exact_nl >= RESULT_MAX_NL + 0.5L)
                return fail(err, field, "%s %.6g %s gives %.6Lg %s, outside %.6f to %.0f %s",
                            field, value, unit_str, exact_ml, ml_unit,
                            units_nl_to_ml(RESULT_MIN_NL), units_nl_to_ml(RESULT_MAX_NL), ml_unit);

        /* Nearest whole nL (or nL/h): at most half a nanolitre away, a
         * millionth of a pump step. That is representation, not dosing:
         * whether the mechanism can honour the volume or rate within 1 %
         * is decided by the channel, which refuses what it cannot. */
        *ret_nl = llroundl(exact_nl);
        return 0;
}

int dose_rate_to_nl_per_h(double dose, const struct dose_unit *u, const struct concentration *c,
                          const struct patient *p, int64_t *ret_rate_nl_per_h, struct dose_error *err) {
        char unit_str[DOSE_UNIT_STRING_MAX];
        long double ml_per_h_per_dose;
        int r;

        r = ml_per_dose(true, u, c, p, unit_str, &ml_per_h_per_dose, err);
        if (r < 0)
                return r;
        if (!(isfinite(dose) && dose > 0))
                return fail(err, "DoseRate", "DoseRate %.6g %s must be a finite number above 0", dose, unit_str);

        return round_nl(true, dose * ml_per_h_per_dose * NL_PER_ML, "DoseRate", dose, unit_str,
                        ret_rate_nl_per_h, err);
}

int dose_rate_from_nl_per_h(int64_t rate_nl_per_h, const struct dose_unit *u, const struct concentration *c,
                            const struct patient *p, double *ret_dose, struct dose_error *err) {
        char unit_str[DOSE_UNIT_STRING_MAX];
        long double ml_per_h_per_dose;
        int r;

        r = ml_per_dose(true, u, c, p, unit_str, &ml_per_h_per_dose, err);
        if (r < 0)
                return r;
        if (rate_nl_per_h < RESULT_MIN_NL || rate_nl_per_h > RESULT_MAX_NL)
                return fail(err, "RateMlPerHour", "RateMlPerHour %.6g mL/h is outside %.6f to %.0f mL/h",
                            units_nl_to_ml(rate_nl_per_h),
                            units_nl_to_ml(RESULT_MIN_NL), units_nl_to_ml(RESULT_MAX_NL));

        /* Only a concentration at the far ends of double (say 1e-300 mg in
         * 1e300 mL) takes this out of double's range. */
        double dose = (double) ((long double) rate_nl_per_h / NL_PER_ML / ml_per_h_per_dose);
        if (!(isfinite(dose) && dose > 0))
                return fail(err, "Concentration", "RateMlPerHour %.6g mL/h cannot be shown in %s from this Concentration",
                            units_nl_to_ml(rate_nl_per_h), unit_str);

        *ret_dose = dose;
        return 0;
}

int dose_amount_to_nl(double amount, const struct dose_unit *u, const struct concentration *c,
                      const struct patient *p, int64_t *ret_volume_nl, struct dose_error *err) {
        char unit_str[DOSE_UNIT_STRING_MAX];
        long double ml_per_unit_amount;
        int r;

        r = ml_per_dose(false, u, c, p, unit_str, &ml_per_unit_amount, err);
        if (r < 0)
                return r;
        if (!(isfinite(amount) && amount > 0))
                return fail(err, "DoseAmount", "DoseAmount %.6g %s must be a finite number above 0", amount, unit_str);

        return round_nl(false, amount * ml_per_unit_amount * NL_PER_ML, "DoseAmount", amount, unit_str,
                        ret_volume_nl, err);
}

int dose_amount_from_nl(int64_t volume_nl, const struct dose_unit *u, const struct concentration *c,
                        const struct patient *p, double *ret_amount, struct dose_error *err) {
        char unit_str[DOSE_UNIT_STRING_MAX];
        long double ml_per_unit_amount;
        int r;

        r = ml_per_dose(false, u, c, p, unit_str, &ml_per_unit_amount, err);
        if (r < 0)
                return r;
        if (volume_nl < RESULT_MIN_NL || volume_nl > RESULT_MAX_NL)
                return fail(err, "BolusMl", "BolusMl %.6g mL is outside %.6f to %.0f mL", units_nl_to_ml(volume_nl),
                            units_nl_to_ml(RESULT_MIN_NL), units_nl_to_ml(RESULT_MAX_NL));
        double amount = (double) ((long double) volume_nl / NL_PER_ML / ml_per_unit_amount);
        if (!(isfinite(amount) && amount > 0))
                return fail(err, "Concentration", "BolusMl %.6g mL cannot be shown in %s from this Concentration",
                            units_nl_to_ml(volume_nl), unit_str);
        *ret_amount = amount;
        return 0;
}
