/* SPDX-License-Identifier: MIT */
#include "units.h"

#include <errno.h>
#include <math.h>

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
