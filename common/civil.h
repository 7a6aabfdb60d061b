/* SPDX-License-Identifier: MIT */
#pragma once

/* The UTC calendar from microseconds since the epoch, and back, without
 * time_t (a 32-bit one ends in 2038: armhf) and without the TZ. Proleptic
 * Gregorian; no leap seconds, as Unix time has none. */

#include <stdint.h>

struct utc_civil {
        int64_t year;
        unsigned month;                 /* 1 .. 12 */
        unsigned day;                   /* 1 .. 31 */
        unsigned hour, minute, second;
        unsigned usec;                  /* 0 .. 999999 */
};

/* Days since 1970-01-01 of a date (month 1..12, day 1..31). */
int64_t civil_days_from_date(int64_t year, unsigned month, unsigned day);
/* The date of a day number. */
void civil_date_from_days(int64_t days, int64_t *ret_year, unsigned *ret_month, unsigned *ret_day);
/* A time, split; times before the epoch count back correctly (-1 µs is
 * 1969-12-31T23:59:59.999999). */
void civil_from_utc_us(int64_t utc_us, struct utc_civil *ret);
