/* SPDX-License-Identifier: MIT */
#include "units.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

int units_ml_to_nl(double ml, int64_t min_nl, int64_t max_nl, int64_t *ret_nl) {
        if (!isfinite(ml))
                return -EDOM;

        /* Compare in the double domain first so a huge value cannot
         * overflow the conversion below. */
        double nl = ml * (double) NL_PER_ML;
        if (nl < (double) min_nl - 0.5 || nl > (double) max_nl + 0.5)
                return -ERANGE;

        int64_t v = llround(nl);
        if (v < min_nl || v > max_nl)
                return -ERANGE;

        *ret_nl = v;
        return 0;
}

int units_nl_to_ml_text(int64_t nl, char *buf, size_t size) {
        /* unsigned: -INT64_MIN does not fit an int64 */
        uint64_t a = nl < 0 ? -(uint64_t) nl : (uint64_t) nl;
        uint64_t whole = a / (uint64_t) NL_PER_ML, frac = a % (uint64_t) NL_PER_ML;
        char digits[8];
        int n;

        snprintf(digits, sizeof digits, "%06" PRIu64, frac);
        for (size_t k = 6; k > 0 && digits[k - 1] == '0'; k--)
                digits[k - 1] = '\0';
        n = snprintf(buf, size, "%s%" PRIu64 "%s%s", nl < 0 ? "-" : "", whole, frac ? "." : "", digits);
        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}
