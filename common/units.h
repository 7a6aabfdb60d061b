/* SPDX-License-Identifier: MIT */
#pragma once

/* Units used across infusiond. Volumes accumulate as int64 nanolitres,
 * rates as nanolitres per hour, time as int64 microseconds. Doubles appear
 * only at the edges (D-Bus, config) and are converted once, here. */

#include <stddef.h>
#include <stdint.h>

#define NL_PER_ML      INT64_C(1000000)
#define PL_PER_NL      INT64_C(1000)
#define US_PER_MS      INT64_C(1000)
#define US_PER_SEC     INT64_C(1000000)
#define US_PER_MIN     (60 * US_PER_SEC)
#define US_PER_HOUR    (3600 * US_PER_SEC)

/* Convert a value in mL (or mL/h) to nL (or nL/h).
 * Returns 0 and writes *ret_nl; -EDOM if not finite, -ERANGE if below
 * min_nl or above max_nl. Rounds to the nearest nanolitre: a nanolitre is
 * far below any mechanism's resolution, so this rounding is never what
 * decides a dose (resolution checks happen against the mechanism). */
int units_ml_to_nl(double ml, int64_t min_nl, int64_t max_nl, int64_t *ret_nl);

/* nL (or nL/h) as the exact decimal in mL (mL/h), from integers, trailing
 * zeros cut: 25000000 -> "25", 1500 -> "0.0015", -1 -> "-0.000001". The
 * exports and infusionctl print volumes this way, never via a double.
 * 0, or -ENOBUFS when it does not fit in size. */
int units_nl_to_ml_text(int64_t nl, char *buf, size_t size);

static inline double units_nl_to_ml(int64_t nl) {
        return (double) nl / (double) NL_PER_ML;
}
