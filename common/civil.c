/* SPDX-License-Identifier: MIT */
#include "common/civil.h"

#include "common/units.h"

/* Howard Hinnant's days-from-civil algorithms: eras of 400 years
 * (146097 days) so that the arithmetic is exact for any int64 year that
 * fits, with March as the first month so February's length comes last. */
int64_t civil_days_from_date(int64_t year, unsigned month, unsigned day) {
        int64_t y = year - (month <= 2), era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned) (y - era * 400);
        unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

void civil_date_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day) {
        int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
        unsigned doe = (unsigned) (z - era * 146097);
        unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        unsigned mp = (5 * doy + 2) / 153;
        unsigned m = mp < 10 ? mp + 3 : mp - 9;

        *ret_day = doy - (153 * mp + 2) / 5 + 1;
        *ret_month = m;
        *ret_year = (int64_t) yoe + era * 400 + (m <= 2);
}

/* Division that rounds toward minus infinity, so the microsecond before
 * the epoch is in the day before it. */
static int64_t floor_div(int64_t a, int64_t b) {
        return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

void civil_from_utc_us(int64_t utc_us, struct utc_civil *ret) {
        /* The remainder, not utc_us - days * a day: near INT64_MIN that
         * product would overflow. */
        int64_t days = floor_div(utc_us, 86400 * US_PER_SEC);
        int64_t in_day = utc_us % (86400 * US_PER_SEC);

        if (in_day < 0)
                in_day += 86400 * US_PER_SEC;

        civil_date_from_days(days, &ret->year, &ret->month, &ret->day);
        ret->hour = (unsigned) (in_day / US_PER_HOUR);
        ret->minute = (unsigned) (in_day / US_PER_MIN % 60);
        ret->second = (unsigned) (in_day / US_PER_SEC % 60);
        ret->usec = (unsigned) (in_day % US_PER_SEC);
}
