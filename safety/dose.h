/* SPDX-License-Identifier: MIT */
#pragma once

/* Dose arithmetic: what a clinician programs (5 mcg/kg/min of dopamine at
 * 400 mg / 250 mL for an 80 kg patient) turned into what the pump does
 * (15 mL/h), and back for display. Pure logic.
 *
 * Doubles come in (from D-Bus or the library) and are converted once; the
 * result is an integer rate in nL/h. The conversion is refused, never
 * rounded, when the result cannot be represented within 1 part in 10^6. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dose_amount {
        DOSE_AMOUNT_ML,         /* volume itself: mL/h needs no concentration */
        DOSE_AMOUNT_G,
        DOSE_AMOUNT_MG,
        DOSE_AMOUNT_MCG,
        DOSE_AMOUNT_NG,
        DOSE_AMOUNT_UNITS,
        DOSE_AMOUNT_MILLIUNITS,
        DOSE_AMOUNT_MEQ,
        DOSE_AMOUNT_MMOL,
        _DOSE_AMOUNT_MAX,
};

enum dose_basis {
        DOSE_BASIS_NONE,        /* per patient */
        DOSE_BASIS_KG,          /* per kg body weight */
        DOSE_BASIS_M2,          /* per m² body surface area */
        _DOSE_BASIS_MAX,
};

enum dose_time {
        DOSE_TIME_NONE,         /* an amount (bolus, loading dose): "mg" */
        DOSE_TIME_MIN,
        DOSE_TIME_H,
        _DOSE_TIME_MAX,
};

/* "mcg/kg/min" = { MCG, KG, MIN }; "units/h" = { UNITS, NONE, H };
 * "mL/h" = { ML, NONE, H }; "mg" = { MG, NONE, NONE }. */
struct dose_unit {
        enum dose_amount amount;
        enum dose_basis basis;
        enum dose_time time;
};

/* A drug's strength: amount of drug in volume_ml of solution,
 * e.g. 400 mg in 250 mL, 25000 units in 500 mL. */
struct concentration {
        double amount;
        enum dose_amount amount_unit;   /* never DOSE_AMOUNT_ML */
        double volume_ml;
};

struct patient {
        double weight_kg;               /* 0 = not given */
        double height_cm;               /* 0 = not given */
};

/* The patients the pump is for: a weight or height outside these is a
 * typing error, refused whether or not the dose unit uses it. */
#define WEIGHT_KG_MIN 0.1
#define WEIGHT_KG_MAX 500.0
#define HEIGHT_CM_MIN 20.0
#define HEIGHT_CM_MAX 300.0

/* Why a conversion failed, for a person: "DoseRateUnit mcg/kg/min needs
 * PatientWeightKg". field is one of "DoseRate", "DoseRateUnit",
 * "DoseAmount", "DoseAmountUnit", "RateMlPerHour", "Concentration",
 * "PatientWeightKg", "PatientHeightCm". */
struct dose_error {
        const char *field;              /* offending input, or NULL */
        char text[256];
};

/* Longest unit printed ("milliunits/kg/min") plus its NUL, rounded up. */
#define DOSE_UNIT_STRING_MAX 24

/* Parse and print units. Parsing accepts exactly the spellings printed
 * ("mL/h", "mcg/kg/min", "units/kg/h", "mg/m2/h", "mEq/h", "mg", ...);
 * -EINVAL otherwise, case included. The to_string functions return NULL
 * for a value outside the enums or, for a unit, a buffer too small
 * (DOSE_UNIT_STRING_MAX always fits). */
int dose_unit_parse(const char *s, struct dose_unit *ret);
const char *dose_unit_to_string(const struct dose_unit *u, char *buf, size_t size);
int dose_amount_parse(const char *s, enum dose_amount *ret);
const char *dose_amount_to_string(enum dose_amount a);

/* Can a dose in `dose` be given from a concentration in `conc`? Mass with
 * mass (g, mg, mcg, ng), units with units, mEq with mEq, mmol with mmol.
 * A dose in mL is compatible with anything. */
bool dose_amounts_compatible(enum dose_amount dose, enum dose_amount conc);

/* Body surface area by Mosteller: sqrt(height_cm * weight_kg / 3600).
 * NAN when weight or height is not given or outside 0.1..500 kg,
 * 20..300 cm (the ranges the conversions accept). */
double dose_bsa_m2(const struct patient *p);

/* Dose rate (unit has a time) -> pump rate. -EINVAL with *err filled when
 * the unit has no time, the amounts are incompatible, weight or height is
 * missing for a /kg or /m2 unit, a value is not finite or not > 0, or the
 * result is outside 1 nL/h .. 10^13 nL/h. The result is the nearest whole
 * nL/h (within 0.5 nL/h); the channel then decides whether the mechanism
 * can honour it within 1 %.
 *
 * Common to the three conversions: c may be NULL when the unit's amount is
 * mL (it is then not read); p may be NULL when the unit has no basis, and
 * weight and height are checked (0.1..500 kg, 20..300 cm) only when the
 * basis needs them. Results, in nL or nL/h, must round to 1..10^13.
 * err may be NULL; ret_* is written only on
 * success. */
int dose_rate_to_nl_per_h(double dose, const struct dose_unit *u, const struct concentration *c,
                          const struct patient *p, int64_t *ret_rate_nl_per_h, struct dose_error *err);

/* Pump rate -> dose rate in unit u, for display. Same errors, and
 * rate_nl_per_h outside 1..10^13 is refused ("RateMlPerHour"). */
int dose_rate_from_nl_per_h(int64_t rate_nl_per_h, const struct dose_unit *u, const struct concentration *c,
                            const struct patient *p, double *ret_dose, struct dose_error *err);

/* An amount (unit without time: bolus or loading dose, e.g. 2 mg, or
 * 0.1 mg/kg) -> volume in nL. Same errors, named "DoseAmount" and
 * "DoseAmountUnit"; a unit with a time is refused. */
/* The inverse, exact (no rounding to whole nL on the way): how much of
 * the amount unit volume_nl holds. For judging a bolus given in mL
 * against limits written as an amount. Same errors. */
int dose_amount_from_nl(int64_t volume_nl, const struct dose_unit *u, const struct concentration *c,
                        const struct patient *p, double *ret_amount, struct dose_error *err);

int dose_amount_to_nl(double amount, const struct dose_unit *u, const struct concentration *c,
                      const struct patient *p, int64_t *ret_volume_nl, struct dose_error *err);
