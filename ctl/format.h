/* SPDX-License-Identifier: MIT */
#pragma once

/* Pure formatting and parsing helpers for infusionctl: no D-Bus, no I/O,
 * no locale (the C locale is assumed: infusionctl never calls setlocale(),
 * so '.' is always the decimal point in both directions).
 *
 * Buffer-writing functions return 0 on success and -ENOBUFS when the
 * buffer is too small (the buffer then holds a truncated, NUL-terminated
 * string). Parsers return 0 and write *ret_* only on success. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes that always suffice for the fixed-format helpers below. */
#define FORMAT_HMS_MAX          32      /* "5124095576030431:00:15" for UINT64_MAX s */
#define FORMAT_NUMBER_MAX       320     /* "%.3f" of any finite double */
#define FORMAT_PROGRESS_BAR_MAX 256     /* bar width is capped at 200 */
#define FORMAT_PROGRESS_LINE_MAX 2048

#define FORMAT_PROGRESS_BAR_WIDTH_MAX 200u

/* Fraction of the VTBI delivered, clamped to [0, 1]. KVO volume is part of
 * infused_ml (API.md) but not of the VTBI, so it is subtracted first.
 * Volumes count to the microlitre, as they are shown, so the percentage
 * agrees with "5.000 / 5.000 mL" beside it even when the mechanism's last
 * step fell a fraction of a microlitre short. A VTBI that is 0, negative
 * or not finite gives 0. */
double progress_fraction(double infused_ml, double kvo_ml, double vtbi_ml);

/* Tenths of a percent of fraction (clamped to [0, 1]), rounded down so a
 * bar never claims completion before the VTBI is really delivered:
 * 0.4299 -> 429 ("42.9 %"). Exact decimal fractions (0.29) are not lost to
 * binary rounding. */
unsigned progress_permille(double fraction);

/* "[####......]": width cells between the brackets, '#' for the delivered
 * part (rounded down), '.' for the rest. fraction is clamped to [0, 1];
 * NaN counts as 0. width must be 1..FORMAT_PROGRESS_BAR_WIDTH_MAX, else
 * -EINVAL. */
int format_progress_bar(char *buf, size_t size, double fraction, unsigned width);

/* Seconds as h:mm:ss ("0:03:29" for 209); hours are not wrapped at 24. */
int format_hms(char *buf, size_t size, uint64_t sec);

/* A volume in mL with exactly three decimals ("4.200"); a rate in mL/h
 * with at least one and at most three decimals ("100.0", "0.05", "2.125");
 * a pressure in whole mmHg ("12"). Values that round to zero never print
 * as "-0". Non-finite values print as "n/a". */
int format_volume_ml(char *buf, size_t size, double ml);
int format_rate_ml_per_h(char *buf, size_t size, double ml_per_h);
int format_pressure_mmhg(char *buf, size_t size, double mmhg);

/* One sample of a channel, as `monitor` shows it. */
typedef struct ProgressSample {
        const char *state;              /* "running", ...; NULL prints "?" */
        double volume_infused_ml;       /* VolumeInfusedMl (KVO included) */
        double kvo_volume_ml;           /* KvoVolumeMl */
        double vtbi_ml;                 /* VtbiMl */
        double rate_ml_per_h;           /* CurrentRateMlPerHour: the rate now */
        double pressure_mmhg;           /* PressureMmHg */
        uint64_t time_remaining_sec;    /* TimeRemainingSec */
} ProgressSample;

/* "[#######.............]  35.0%  3.500 / 10.000 mL  100.0 mL/h  12 mmHg  running  ETA 0:03:29"
 * with a bar of bar_width cells. */
int format_progress_line(char *buf, size_t size, const ProgressSample *s, unsigned bar_width);

/* A duration for Simulator.AdvanceTime, in microseconds. Accepts an
 * unsigned decimal number with an optional fraction and an optional unit:
 * "us", "ms", "s", "m"/"min", "h"; no unit means seconds. "360s", "5m",
 * "2h", "1500ms", "1.5h", "90". Fractions finer than a microsecond are
 * truncated. Returns -EINVAL for anything else (empty, signs, spaces,
 * "12abc"), -ERANGE when the result does not fit in uint64_t. */
int parse_duration_usec(const char *s, uint64_t *ret_usec);

/* A plain decimal number that must be consumed entirely and be finite:
 * "100", "0.5", "1e2", "-3". Refuses leading/trailing space, hex floats,
 * "inf", "nan", empty strings (-EINVAL) and overflow (-ERANGE). */
int parse_double_strict(const char *s, double *ret);

/* An unsigned decimal integer that fits in unsigned: -EINVAL / -ERANGE. */
int parse_unsigned(const char *s, unsigned *ret);

/* "on"/"yes"/"true"/"1" and "off"/"no"/"false"/"0": -EINVAL otherwise. */
int parse_on_off(const char *s, bool *ret);

/* Replaces control characters (newlines, tabs, escape sequences) in s
 * with spaces, in place, so text from the daemon stays on its line of a
 * human-readable listing and cannot drive the terminal. Returns s. */
char *one_line(char *s);

/* s as a JSON string literal, quotes included, in a new malloc()ed string
 * (NULL when out of memory). '"' and '\\' are escaped, control characters
 * become \b \f \n \r \t or \u00XX, valid UTF-8 passes through unchanged and
 * each byte of invalid UTF-8 becomes \ufffd, so the result is always valid
 * JSON. NULL s is treated as "". */
char *json_quote(const char *s);

/* A double as a JSON number: the shortest "%.{1..17}g" that reads back
 * exactly; "null" for NaN and infinities, which JSON cannot express. */
int format_json_double(char *buf, size_t size, double v);
