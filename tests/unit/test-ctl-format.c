/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "common/macros.h"
#include "ctl/alarms.h"
#include "ctl/format.h"
#include "ctl/program.h"
#include "ctl/simulator.h"

/* ---- progress bar ---- */

static void progress_bar_is_empty_at_zero(void **state) {
        char buf[FORMAT_PROGRESS_BAR_MAX];

        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.0, 10), 0);
        assert_string_equal(buf, "[..........]");
}

static void progress_bar_fills_proportionally_and_rounds_down(void **state) {
        char buf[FORMAT_PROGRESS_BAR_MAX];

        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.42, 10), 0);
        assert_string_equal(buf, "[####......]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.42, 20), 0);
        assert_string_equal(buf, "[########............]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.42, 50), 0);
        assert_int_equal(strlen(buf), 52);
        assert_int_equal(strspn(buf + 1, "#"), 21);
        /* 99.9 % must not look complete */
        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.999, 10), 0);
        assert_string_equal(buf, "[#########.]");
}

static void progress_bar_is_full_at_hundred_percent(void **state) {
        char buf[FORMAT_PROGRESS_BAR_MAX];

        assert_int_equal(format_progress_bar(buf, sizeof buf, 1.0, 10), 0);
        assert_string_equal(buf, "[##########]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, 1.0, 1), 0);
        assert_string_equal(buf, "[#]");
}

static void progress_bar_clamps_out_of_range_fractions(void **state) {
        char buf[FORMAT_PROGRESS_BAR_MAX];

        assert_int_equal(format_progress_bar(buf, sizeof buf, 1.7, 10), 0);
        assert_string_equal(buf, "[##########]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, INFINITY, 4), 0);
        assert_string_equal(buf, "[####]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, -0.3, 4), 0);
        assert_string_equal(buf, "[....]");
        assert_int_equal(format_progress_bar(buf, sizeof buf, NAN, 4), 0);
        assert_string_equal(buf, "[....]");
}

static void progress_bar_refuses_bad_widths_and_small_buffers(void **state) {
        char buf[FORMAT_PROGRESS_BAR_MAX], small[12];

        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.5, 0), -EINVAL);
        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.5, FORMAT_PROGRESS_BAR_WIDTH_MAX + 1), -EINVAL);
        assert_int_equal(format_progress_bar(buf, sizeof buf, 0.5, FORMAT_PROGRESS_BAR_WIDTH_MAX), 0);
        /* width 10 needs 13 bytes: brackets and the NUL */
        assert_int_equal(format_progress_bar(small, sizeof small, 0.5, 10), -ENOBUFS);
        assert_string_equal(small, "");
        assert_int_equal(format_progress_bar(small, sizeof small, 0.5, 9), 0);
}

static void progress_fraction_excludes_kvo_volume_and_clamps(void **state) {
        assert_true(fabs(progress_fraction(4.2, 0, 10) - 0.42) < 1e-12);
        /* in KVO: 10 mL of VTBI plus 0.05 mL at KVO rate is 100 %, not more */
        assert_true(progress_fraction(10.05, 0.05, 10) == 1.0);
        assert_true(progress_fraction(12, 0, 10) == 1.0);
        /* counted to the microlitre shown: 4.9999996 mL reads "5.000" and is 100 % */
        assert_true(progress_fraction(4.9999996, 0, 5) == 1.0);
        assert_int_equal(progress_permille(progress_fraction(4.9994, 0, 5)), 999);
        assert_true(progress_fraction(5, 0, 0) == 0.0);
        assert_true(progress_fraction(5, 0, -1) == 0.0);
        assert_true(progress_fraction(5, 0, NAN) == 0.0);
        assert_true(progress_fraction(NAN, 0, 10) == 0.0);
        assert_true(progress_fraction(-1, 0, 10) == 0.0);
}

static void progress_permille_rounds_down_without_binary_noise(void **state) {
        assert_int_equal(progress_permille(0), 0);
        assert_int_equal(progress_permille(0.42), 420);
        assert_int_equal(progress_permille(0.29), 290);        /* 0.29 * 1000 = 289.99999999999994 */
        assert_int_equal(progress_permille(0.4299), 429);
        assert_int_equal(progress_permille(0.9999), 999);       /* never 100.0 % early */
        assert_int_equal(progress_permille(1), 1000);
        assert_int_equal(progress_permille(3), 1000);
        assert_int_equal(progress_permille(NAN), 0);
}

/* ---- numbers and times ---- */

static void hms_formats_hours_minutes_seconds(void **state) {
        char buf[FORMAT_HMS_MAX];

        assert_int_equal(format_hms(buf, sizeof buf, 209), 0);
        assert_string_equal(buf, "0:03:29");
        assert_int_equal(format_hms(buf, sizeof buf, 0), 0);
        assert_string_equal(buf, "0:00:00");
        assert_int_equal(format_hms(buf, sizeof buf, 3600), 0);
        assert_string_equal(buf, "1:00:00");
        assert_int_equal(format_hms(buf, sizeof buf, 100 * 3600 + 59 * 60 + 59), 0);
        assert_string_equal(buf, "100:59:59");
        assert_int_equal(format_hms(buf, sizeof buf, UINT64_MAX), 0);
        assert_string_equal(buf, "5124095576030431:00:15");
        assert_int_equal(format_hms(buf, 5, 209), -ENOBUFS);
}

static void volumes_have_three_decimals(void **state) {
        char buf[FORMAT_NUMBER_MAX];

        assert_int_equal(format_volume_ml(buf, sizeof buf, 4.2), 0);
        assert_string_equal(buf, "4.200");
        assert_int_equal(format_volume_ml(buf, sizeof buf, 10), 0);
        assert_string_equal(buf, "10.000");
        assert_int_equal(format_volume_ml(buf, sizeof buf, 0.0004), 0);
        assert_string_equal(buf, "0.000");
        assert_int_equal(format_volume_ml(buf, sizeof buf, -0.0004), 0);
        assert_string_equal(buf, "0.000");                     /* no "-0.000" */
        assert_int_equal(format_volume_ml(buf, sizeof buf, NAN), 0);
        assert_string_equal(buf, "n/a");
        assert_int_equal(format_volume_ml(buf, sizeof buf, 1e300), 0);   /* fits FORMAT_NUMBER_MAX */
}

static void rates_keep_the_digits_that_matter(void **state) {
        char buf[FORMAT_NUMBER_MAX];

        assert_int_equal(format_rate_ml_per_h(buf, sizeof buf, 100), 0);
        assert_string_equal(buf, "100.0");
        assert_int_equal(format_rate_ml_per_h(buf, sizeof buf, 0.05), 0);
        assert_string_equal(buf, "0.05");
        assert_int_equal(format_rate_ml_per_h(buf, sizeof buf, 2.125), 0);
        assert_string_equal(buf, "2.125");
        assert_int_equal(format_rate_ml_per_h(buf, sizeof buf, 0), 0);
        assert_string_equal(buf, "0.0");
}

static void pressures_are_whole_mmhg(void **state) {
        char buf[FORMAT_NUMBER_MAX];

        assert_int_equal(format_pressure_mmhg(buf, sizeof buf, 12.4), 0);
        assert_string_equal(buf, "12");
        assert_int_equal(format_pressure_mmhg(buf, sizeof buf, -0.3), 0);
        assert_string_equal(buf, "0");
        assert_int_equal(format_pressure_mmhg(buf, sizeof buf, -12), 0);
        assert_string_equal(buf, "-12");
}

static void progress_line_shows_everything_monitor_needs(void **state) {
        char buf[FORMAT_PROGRESS_LINE_MAX];
        ProgressSample s = {
                .state = "running",
                .volume_infused_ml = 4.2,
                .vtbi_ml = 10,
                .rate_ml_per_h = 100,
                .pressure_mmhg = 12,
                .time_remaining_sec = 209,
        };

        assert_int_equal(format_progress_line(buf, sizeof buf, &s, 20), 0);
        assert_string_equal(buf, "[########............]  42.0%  4.200 / 10.000 mL  100.0 mL/h  12 mmHg  running  ETA 0:03:29");

        s = (ProgressSample) { .state = NULL, .pressure_mmhg = NAN };
        assert_int_equal(format_progress_line(buf, sizeof buf, &s, 4), 0);
        assert_string_equal(buf, "[....]   0.0%  0.000 / 0.000 mL  0.0 mL/h  n/a mmHg  ?  ETA 0:00:00");

        s = (ProgressSample) { .state = "kvo", .volume_infused_ml = 10.05, .kvo_volume_ml = 0.05,
                               .vtbi_ml = 10, .rate_ml_per_h = 1, .pressure_mmhg = 8 };
        assert_int_equal(format_progress_line(buf, sizeof buf, &s, 4), 0);
        assert_string_equal(buf, "[####] 100.0%  10.050 / 10.000 mL  1.0 mL/h  8 mmHg  kvo  ETA 0:00:00");

        assert_int_equal(format_progress_line(buf, 10, &s, 4), -ENOBUFS);
}

/* ---- parsers ---- */

static void durations_accept_units_and_plain_seconds(void **state) {
        uint64_t usec = 0;

        assert_int_equal(parse_duration_usec("360s", &usec), 0);
        assert_true(usec == UINT64_C(360000000));
        assert_int_equal(parse_duration_usec("5m", &usec), 0);
        assert_true(usec == UINT64_C(300000000));
        assert_int_equal(parse_duration_usec("5min", &usec), 0);
        assert_true(usec == UINT64_C(300000000));
        assert_int_equal(parse_duration_usec("2h", &usec), 0);
        assert_true(usec == UINT64_C(7200000000));
        assert_int_equal(parse_duration_usec("1500ms", &usec), 0);
        assert_true(usec == UINT64_C(1500000));
        assert_int_equal(parse_duration_usec("250us", &usec), 0);
        assert_true(usec == UINT64_C(250));
        assert_int_equal(parse_duration_usec("90", &usec), 0);
        assert_true(usec == UINT64_C(90000000));
        assert_int_equal(parse_duration_usec("0", &usec), 0);
        assert_true(usec == 0);
        assert_int_equal(parse_duration_usec("1.5h", &usec), 0);
        assert_true(usec == UINT64_C(5400000000));
        assert_int_equal(parse_duration_usec("0.25s", &usec), 0);
        assert_true(usec == UINT64_C(250000));
        /* finer than a microsecond is truncated */
        assert_int_equal(parse_duration_usec("1.0000019s", &usec), 0);
        assert_true(usec == UINT64_C(1000001));
}

static void durations_refuse_garbage(void **state) {
        uint64_t usec = 42;

        assert_int_equal(parse_duration_usec("12abc", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec(NULL, &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec(" 5s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("5s ", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("5 s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("5.s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec(".5s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("5S", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("1h30m", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("0x10", &usec), -EINVAL);
        assert_true(usec == 42);
}

static void durations_refuse_negatives(void **state) {
        uint64_t usec = 42;

        assert_int_equal(parse_duration_usec("-5s", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("-0", &usec), -EINVAL);
        assert_int_equal(parse_duration_usec("+5s", &usec), -EINVAL);
        assert_true(usec == 42);
}

static void durations_refuse_overflow(void **state) {
        uint64_t usec = 42;

        /* UINT64_MAX us is 18446744073709551615; one more does not fit */
        assert_int_equal(parse_duration_usec("18446744073709551615us", &usec), 0);
        assert_true(usec == UINT64_MAX);
        assert_int_equal(parse_duration_usec("18446744073709551616us", &usec), -ERANGE);
        assert_int_equal(parse_duration_usec("99999999999999999999999999s", &usec), -ERANGE);
        assert_int_equal(parse_duration_usec("5124095577h", &usec), -ERANGE);
        /* the fraction pushes it over */
        assert_int_equal(parse_duration_usec("18446744073709s", &usec), 0);
        assert_int_equal(parse_duration_usec("18446744073709.9s", &usec), -ERANGE);
        assert_int_equal(parse_duration_usec("18446744073709551615.5ms", &usec), -ERANGE);
        assert_true(usec == UINT64_C(18446744073709000000));
}

static void doubles_must_parse_fully(void **state) {
        double v = 42;

        assert_int_equal(parse_double_strict("100", &v), 0);
        assert_true(v == 100);
        assert_int_equal(parse_double_strict("2.5", &v), 0);
        assert_true(v == 2.5);
        assert_int_equal(parse_double_strict("1e2", &v), 0);
        assert_true(v == 100);
        assert_int_equal(parse_double_strict("-3", &v), 0);    /* the daemon says why it is refused */
        assert_true(v == -3);
        assert_int_equal(parse_double_strict(".5", &v), 0);
        assert_true(v == 0.5);

        v = 42;
        assert_int_equal(parse_double_strict("12abc", &v), -EINVAL);
        assert_int_equal(parse_double_strict("", &v), -EINVAL);
        assert_int_equal(parse_double_strict(NULL, &v), -EINVAL);
        assert_int_equal(parse_double_strict(" 5", &v), -EINVAL);
        assert_int_equal(parse_double_strict("5 ", &v), -EINVAL);
        assert_int_equal(parse_double_strict("1,5", &v), -EINVAL);
        assert_int_equal(parse_double_strict("0x10", &v), -EINVAL);
        assert_int_equal(parse_double_strict("inf", &v), -EINVAL);
        assert_int_equal(parse_double_strict("nan", &v), -EINVAL);
        assert_int_equal(parse_double_strict(".", &v), -EINVAL);
        assert_int_equal(parse_double_strict("e5", &v), -EINVAL);
        assert_int_equal(parse_double_strict("1e", &v), -EINVAL);
        assert_int_equal(parse_double_strict("1e999", &v), -ERANGE);
        assert_true(v == 42);
}

static void unsigned_and_on_off_parse_strictly(void **state) {
        unsigned u = 7;
        bool b = false;

        assert_int_equal(parse_unsigned("0", &u), 0);
        assert_int_equal(u, 0);
        assert_int_equal(parse_unsigned("12", &u), 0);
        assert_int_equal(u, 12);
        assert_int_equal(parse_unsigned("-1", &u), -EINVAL);
        assert_int_equal(parse_unsigned("1x", &u), -EINVAL);
        assert_int_equal(parse_unsigned("", &u), -EINVAL);
        assert_int_equal(parse_unsigned("99999999999", &u), -ERANGE);
        assert_int_equal(u, 12);

        assert_int_equal(parse_on_off("on", &b), 0);
        assert_true(b);
        assert_int_equal(parse_on_off("off", &b), 0);
        assert_false(b);
        assert_int_equal(parse_on_off("1", &b), 0);
        assert_true(b);
        assert_int_equal(parse_on_off("maybe", &b), -EINVAL);
        assert_int_equal(parse_on_off("ON", &b), -EINVAL);
        assert_true(b);
}

static void one_line_blanks_control_characters(void **state) {
        char s[] = "Battery low\n(42 min\tleft)\x1b[2J\x7f \xc2\xb5";

        assert_string_equal(one_line(s), "Battery low (42 min left) [2J  \xc2\xb5");
        assert_null(one_line(NULL));
}

/* ---- JSON ---- */

static void assert_json_quote(const char *in, const char *expected) {
        _cleanup_(freep) char *q = json_quote(in);

        assert_non_null(q);
        assert_string_equal(q, expected);
}

static void json_escapes_quotes_and_backslashes(void **state) {
        assert_json_quote("", "\"\"");
        assert_json_quote(NULL, "\"\"");
        assert_json_quote("plain", "\"plain\"");
        assert_json_quote("say \"occluded\"", "\"say \\\"occluded\\\"\"");
        assert_json_quote("C:\\pump", "\"C:\\\\pump\"");
        assert_json_quote("\\\"", "\"\\\\\\\"\"");
        assert_json_quote("/", "\"/\"");                        /* legal unescaped */
}

static void json_escapes_control_characters(void **state) {
        assert_json_quote("a\nb\tc\rd\be\ff", "\"a\\nb\\tc\\rd\\be\\ff\"");
        assert_json_quote("\x01\x1f", "\"\\u0001\\u001f\"");
        assert_json_quote("\x7f", "\"\x7f\"");                  /* DEL is legal in JSON */
}

static void json_passes_utf8_and_replaces_invalid_bytes(void **state) {
        assert_json_quote("5 \xc2\xb5g/kg/min", "\"5 \xc2\xb5g/kg/min\"");        /* µ */
        assert_json_quote("\xe2\x86\x92 \xf0\x9f\x92\x89", "\"\xe2\x86\x92 \xf0\x9f\x92\x89\"");
        assert_json_quote("a\xff" "b", "\"a\\ufffdb\"");
        assert_json_quote("\xc0\xaf", "\"\\ufffd\\ufffd\"");    /* overlong '/' */
        assert_json_quote("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");         /* surrogate */
        assert_json_quote("\xe2\x86", "\"\\ufffd\\ufffd\"");    /* truncated at the end */
}

static void json_doubles_are_shortest_and_never_nan(void **state) {
        char buf[FORMAT_NUMBER_MAX];

        assert_int_equal(format_json_double(buf, sizeof buf, 100), 0);
        assert_string_equal(buf, "100");
        assert_int_equal(format_json_double(buf, sizeof buf, 0.1), 0);
        assert_string_equal(buf, "0.1");
        assert_int_equal(format_json_double(buf, sizeof buf, 4.2), 0);
        assert_string_equal(buf, "4.2");
        assert_int_equal(format_json_double(buf, sizeof buf, 1.0 / 3.0), 0);
        assert_true(strtod(buf, NULL) == 1.0 / 3.0);
        assert_int_equal(format_json_double(buf, sizeof buf, -0.0), 0);
        assert_string_equal(buf, "0");
        assert_int_equal(format_json_double(buf, sizeof buf, 1e-5), 0);
        assert_true(strtod(buf, NULL) == 1e-5);
        assert_int_equal(format_json_double(buf, sizeof buf, 1e300), 0);
        assert_true(strtod(buf, NULL) == 1e300);
        assert_int_equal(format_json_double(buf, sizeof buf, NAN), 0);
        assert_string_equal(buf, "null");
        assert_int_equal(format_json_double(buf, sizeof buf, -INFINITY), 0);
        assert_string_equal(buf, "null");
}

/* ---- programs and the drug library ---- */

static void duration_seconds_accept_units_and_refuse_fractions(void **state) {
        uint32_t sec = 42;

        assert_int_equal(parse_duration_sec("30m", &sec), 0);
        assert_int_equal(sec, 1800);
        assert_int_equal(parse_duration_sec("1h", &sec), 0);
        assert_int_equal(sec, 3600);
        assert_int_equal(parse_duration_sec("90s", &sec), 0);
        assert_int_equal(sec, 90);
        assert_int_equal(parse_duration_sec("90", &sec), 0);
        assert_int_equal(sec, 90);
        assert_int_equal(parse_duration_sec("1.5m", &sec), 0);
        assert_int_equal(sec, 90);
        assert_int_equal(parse_duration_sec("2000ms", &sec), 0);
        assert_int_equal(sec, 2);
        assert_int_equal(parse_duration_sec("0", &sec), 0);     /* the daemon says why it is refused */
        assert_int_equal(sec, 0);

        sec = 42;
        assert_int_equal(parse_duration_sec("1500ms", &sec), -EDOM);
        assert_int_equal(parse_duration_sec("1.5s", &sec), -EDOM);
        assert_int_equal(parse_duration_sec("30 m", &sec), -EINVAL);
        assert_int_equal(parse_duration_sec("-30m", &sec), -EINVAL);
        assert_int_equal(parse_duration_sec("", &sec), -EINVAL);
        assert_int_equal(parse_duration_sec(NULL, &sec), -EINVAL);
        /* u is 32 bits: 4294967295 s fits, one more does not */
        assert_int_equal(parse_duration_sec("4294967296", &sec), -ERANGE);
        assert_int_equal(parse_duration_sec("99999999999999999999999h", &sec), -ERANGE);
        assert_int_equal(sec, 42);
        assert_int_equal(parse_duration_sec("4294967295", &sec), 0);
        assert_true(sec == UINT32_MAX);
}

static void steps_are_rate_colon_volume(void **state) {
        double rate = 42, volume = 42;

        assert_int_equal(parse_step("100:20", &rate, &volume), 0);
        assert_true(rate == 100 && volume == 20);
        assert_int_equal(parse_step("2.5:0.5", &rate, &volume), 0);
        assert_true(rate == 2.5 && volume == 0.5);
        assert_int_equal(parse_step("1e2:5", &rate, &volume), 0);
        assert_true(rate == 100 && volume == 5);

        rate = volume = 42;
        assert_int_equal(parse_step("100", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("100:", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step(":20", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("100:20:5", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("100/20", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("100 :20", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("abc:20", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("100:nan", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("", &rate, &volume), -EINVAL);
        assert_int_equal(parse_step(NULL, &rate, &volume), -EINVAL);
        assert_int_equal(parse_step("1e999:20", &rate, &volume), -ERANGE);
        assert_int_equal(parse_step("100:1e999", &rate, &volume), -ERANGE);
        /* a rate too long to be a number a person typed */
        assert_int_equal(parse_step("1000000000000000000000000000000000000000000000000000000000000000000:1",
                                    &rate, &volume), -EINVAL);
        assert_true(rate == 42 && volume == 42);
}

static void plain_numbers_and_doses_read_like_a_person_writes_them(void **state) {
        char buf[FORMAT_DOSE_MAX];

        assert_int_equal(format_plain_number(buf, sizeof buf, 1000), 0);
        assert_string_equal(buf, "1000");
        assert_int_equal(format_plain_number(buf, sizeof buf, 2.5), 0);
        assert_string_equal(buf, "2.5");
        assert_int_equal(format_plain_number(buf, sizeof buf, 0.025), 0);
        assert_string_equal(buf, "0.025");
        assert_int_equal(format_plain_number(buf, sizeof buf, 0.1 + 0.2), 0);
        assert_string_equal(buf, "0.3");
        assert_int_equal(format_plain_number(buf, sizeof buf, 0), 0);
        assert_string_equal(buf, "0");
        assert_int_equal(format_plain_number(buf, sizeof buf, -0.0), 0);
        assert_string_equal(buf, "0");
        assert_int_equal(format_plain_number(buf, sizeof buf, 4e-7), 0);
        assert_string_equal(buf, "0.0000004");
        assert_int_equal(format_plain_number(buf, sizeof buf, 1e-12), 0);
        assert_string_equal(buf, "1e-12");                      /* not 0 */
        /* a dose worked out from a rate: six significant digits */
        assert_int_equal(format_plain_number(buf, sizeof buf, 5.0 * 800000 / 250 / 60 / 70 * 1000 / 1000), 0);
        assert_string_equal(buf, "3.80952");
        assert_int_equal(format_plain_number(buf, sizeof buf, 0.0125), 0);
        assert_string_equal(buf, "0.0125");
        assert_int_equal(format_plain_number(buf, sizeof buf, 1234.5), 0);
        assert_string_equal(buf, "1234.5");
        assert_int_equal(format_plain_number(buf, sizeof buf, 1234567), 0);
        assert_string_equal(buf, "1234567");
        assert_int_equal(format_plain_number(buf, sizeof buf, 999999.5), 0);
        assert_string_equal(buf, "1000000");
        assert_int_equal(format_plain_number(buf, sizeof buf, -2.5), 0);
        assert_string_equal(buf, "-2.5");
        assert_int_equal(format_plain_number(buf, sizeof buf, NAN), 0);
        assert_string_equal(buf, "n/a");

        assert_int_equal(format_dose(buf, sizeof buf, 1000, "units/h"), 0);
        assert_string_equal(buf, "1000 units/h");
        assert_int_equal(format_dose(buf, sizeof buf, 2.5, "mcg/kg/min"), 0);
        assert_string_equal(buf, "2.5 mcg/kg/min");
        assert_int_equal(format_dose(buf, sizeof buf, 0.02, "units/kg/h"), 0);
        assert_string_equal(buf, "0.02 units/kg/h");
        assert_int_equal(format_dose(buf, sizeof buf, 5, ""), 0);
        assert_string_equal(buf, "5");
        assert_int_equal(format_dose(buf, sizeof buf, 5, NULL), 0);
        assert_string_equal(buf, "5");
        assert_int_equal(format_dose(buf, sizeof buf, NAN, "units/h"), 0);
        assert_string_equal(buf, "n/a");

        char small[6];
        assert_int_equal(format_dose(small, sizeof small, 1000, "units/h"), -ENOBUFS);
}

static void summary_of_a_library_drug_shows_dose_concentration_and_rate(void **state) {
        char buf[512];
        ProgramSummary s = {
                .mode = "continuous",
                .care_area = "ICU",
                .has_library_properties = true,
                .drug = "heparin",
                .drug_name = "Heparin",
                .dose_rate = 1000,
                .dose_rate_unit = "units/h",
                .concentration = "25000 units / 500 mL",
                .rate_ml_per_h = 20,
                .vtbi_ml = 50,
        };

        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: Heparin 1000 units/h (25000 units / 500 mL) in ICU = 20.000 mL/h, VTBI 50.000 mL");

        /* a dose worked out from a rate in mL/h */
        s.drug = "dopamine";
        s.drug_name = "Dopamine";
        s.dose_rate = 3.8095238095238093;
        s.dose_rate_unit = "mcg/kg/min";
        s.concentration = "800 mg / 250 mL";
        s.rate_ml_per_h = 5;
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: Dopamine 3.80952 mcg/kg/min (800 mg / 250 mL) in ICU = 5.000 mL/h, VTBI 50.000 mL");

        /* a fluid dosed in mL/h has no concentration; no name falls back to the id */
        s = (ProgramSummary) {
                .care_area = "Med-Surg", .has_library_properties = true, .drug = "normal-saline", .drug_name = "",
                .dose_rate = 125, .dose_rate_unit = "mL/h", .concentration = "", .rate_ml_per_h = 125, .vtbi_ml = 1000,
        };
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: normal-saline 125 mL/h in Med-Surg = 125.000 mL/h, VTBI 1000.000 mL");

        /* a converted rate is rarely round: three decimals */
        s = (ProgramSummary) {
                .mode = "continuous", .care_area = "ICU", .has_library_properties = true, .drug = "dopamine",
                .drug_name = "Dopamine", .dose_rate = 5, .dose_rate_unit = "mcg/kg/min",
                .concentration = "400 mg / 250 mL", .rate_ml_per_h = 13.125, .vtbi_ml = 250,
        };
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: Dopamine 5 mcg/kg/min (400 mg / 250 mL) in ICU = 13.125 mL/h, VTBI 250.000 mL");

        /* a mode with several rates, no dose */
        s = (ProgramSummary) {
                .mode = "loading", .care_area = "ICU", .has_library_properties = true, .drug = "heparin",
                .drug_name = "Heparin", .dose_rate = NAN, .dose_rate_unit = "units/h",
                .concentration = "25000 units / 500 mL", .rate_ml_per_h = 200, .vtbi_ml = 50,
        };
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (loading): Heparin (25000 units / 500 mL) in ICU, starting at 200.000 mL/h, "
                            "VTBI 50.000 mL");
}

static void summary_of_a_basic_infusion_says_so(void **state) {
        char buf[512];
        ProgramSummary s = {
                .mode = "continuous", .care_area = "", .has_library_properties = true, .drug = "", .drug_name = "",
                .dose_rate = NAN, .dose_rate_unit = "", .concentration = "", .rate_ml_per_h = 100, .vtbi_ml = 10,
        };

        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: 100.000 mL/h, VTBI 10.000 mL (no library drug)");

        s.care_area = "Med-Surg";
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: 100.000 mL/h, VTBI 10.000 mL in Med-Surg (no library drug)");

        s.mode = "multistep";
        s.care_area = NULL;
        s.vtbi_ml = 30;
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (multistep): starting at 100.000 mL/h, VTBI 30.000 mL (no library drug)");

        s.mode = "ramp";
        s.rate_ml_per_h = 40;
        s.vtbi_ml = 2000;
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (ramp): starting at 40.000 mL/h, VTBI 2000.000 mL (no library drug)");

        s.mode = "volume-time";
        s.rate_ml_per_h = 60;
        s.vtbi_ml = 10;
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (volume-time): 60.000 mL/h, VTBI 10.000 mL (no library drug)");
}

static void summary_from_an_older_daemon_is_rate_and_vtbi(void **state) {
        char buf[512], small[20];
        ProgramSummary s = { .rate_ml_per_h = 100, .vtbi_ml = 10, .dose_rate = NAN };

        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed: 100.000 mL/h, VTBI 10.000 mL");

        /* truncated, still NUL-terminated */
        assert_int_equal(format_program_summary(small, sizeof small, &s), -ENOBUFS);
        assert_true(strlen(small) < sizeof small);
        assert_int_equal(format_program_summary(small, 0, &s), -ENOBUFS);
}

static void utf8_prefix_and_columns(void **state) {
        assert_int_equal(utf8_valid_prefix(""), 0);
        assert_int_equal(utf8_valid_prefix("heparin"), 7);
        assert_int_equal(utf8_valid_prefix("5 \xc2\xb5g"), 5);
        assert_int_equal(utf8_valid_prefix("ab\xff" "cd"), 2);
        assert_int_equal(utf8_valid_prefix("\xc0\xaf"), 0);             /* overlong */
        assert_int_equal(utf8_valid_prefix("x\xed\xa0\x80"), 1);        /* surrogate */
        assert_int_equal(utf8_valid_prefix("xy\xe2\x86"), 2);           /* truncated */

        assert_int_equal(utf8_columns(""), 0);
        assert_int_equal(utf8_columns(NULL), 0);
        assert_int_equal(utf8_columns("ICU"), 3);
        assert_int_equal(utf8_columns("5 \xc2\xb5g/kg"), 7);
        assert_int_equal(utf8_columns("\xe2\x86\x92"), 1);
}

static void assert_pretty(const char *in, const char *expected) {
        char *out = NULL;

        assert_int_equal(json_pretty(in, &out), 0);
        assert_string_equal(out, expected);
        free(out);
}

static void json_pretty_reindents_without_touching_values(void **state) {
        char *out = (char *) "untouched";

        assert_pretty("{\"id\":\"heparin\",\"concentrations\":[{\"amount\":25000,\"volume_ml\":0.5}],\"limits\":{}}",
                      "{\n"
                      "  \"id\": \"heparin\",\n"
                      "  \"concentrations\": [\n"
                      "    {\n"
                      "      \"amount\": 25000,\n"
                      "      \"volume_ml\": 0.5\n"
                      "    }\n"
                      "  ],\n"
                      "  \"limits\": {}\n"
                      "}\n");
        /* strings keep their brackets, commas, colons, spaces and escapes */
        assert_pretty("{ \"n\" : \"a, b: {c} [d] \\\" e\\\\\" , \"x\":[ ] }",
                      "{\n  \"n\": \"a, b: {c} [d] \\\" e\\\\\",\n  \"x\": []\n}\n");
        assert_pretty("[1e-7,true,null]", "[\n  1e-7,\n  true,\n  null\n]\n");
        assert_pretty("\"just a string\"", "\"just a string\"\n");

        assert_int_equal(json_pretty("{\"a\":1", &out), -EINVAL);
        assert_int_equal(json_pretty("{\"a\":1]", &out), -EINVAL);
        assert_int_equal(json_pretty("{\"a\":1}}", &out), -EINVAL);
        assert_int_equal(json_pretty("{\"a\":\"1}", &out), -EINVAL);
        assert_int_equal(json_pretty("  ", &out), -EINVAL);
        assert_int_equal(json_pretty("1,2", &out), -EINVAL);
        assert_int_equal(json_pretty(NULL, &out), -EINVAL);

        /* balanced, but deeper than 256 levels */
        char deep[601];
        memset(deep, '[', 300);
        memset(deep + 300, ']', 300);
        deep[600] = '\0';
        assert_int_equal(json_pretty(deep, &out), -EINVAL);
        memset(deep, '[', 256);
        memset(deep + 256, ']', 256);
        deep[512] = '\0';
        assert_int_equal(json_pretty(deep, &out), 0);   /* 256 levels are fine */
        free(out);
        out = (char *) "untouched";
        assert_string_equal(out, "untouched");
}

static void assert_program_error(const char *const *args, const char *expected) {
        ProgramRequest p = {};
        char err[512] = "";

        for (size_t i = 0; args[i]; i += 2) {
                ProgramOption o = _PROGRAM_OPT_MAX;

                for (unsigned j = 0; j < _PROGRAM_OPT_MAX; j++)
                        if (strcmp(program_options[j].option, args[i]) == 0)
                                o = (ProgramOption) j;
                assert_int_not_equal(o, _PROGRAM_OPT_MAX);
                assert_int_equal(program_request_set(&p, o, args[i + 1]), 0);
        }
        assert_int_equal(program_request_parse(&p, err, sizeof err), -EINVAL);
        assert_string_equal(err, expected);
        program_request_done(&p);
}

static void program_options_parse_to_their_keys(void **state) {
        ProgramRequest p = {};
        char err[512] = "";

        assert_int_equal(program_request_set(&p, PROGRAM_OPT_DRUG, "heparin"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CARE_AREA, "ICU"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_DOSE, "1000"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_UNIT, "units/h"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_VTBI, "50"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CONCENTRATION, "1"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_INTERVAL, "6h"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_STEP, "100:20"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_STEP, "50:10"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CONFIRM_SOFT_LIMITS, NULL), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_REASON, "per protocol"), 0);
        /* a second value never silently wins; --step repeats */
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_DOSE, "2000"), -EEXIST);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CONFIRM_SOFT_LIMITS, NULL), -EEXIST);
        assert_int_equal(program_request_set(&p, _PROGRAM_OPT_MAX, "x"), -EINVAL);

        assert_int_equal(program_request_parse(&p, err, sizeof err), 0);
        assert_true(p.number[PROGRAM_OPT_DOSE] == 1000);
        assert_true(p.number[PROGRAM_OPT_VTBI] == 50);
        assert_int_equal(p.whole[PROGRAM_OPT_CONCENTRATION], 1);
        assert_int_equal(p.whole[PROGRAM_OPT_INTERVAL], 21600);
        assert_int_equal(p.n_steps, 2);
        assert_true(p.steps[0].rate_ml_per_h == 100 && p.steps[0].volume_ml == 20);
        assert_true(p.steps[1].rate_ml_per_h == 50 && p.steps[1].volume_ml == 10);
        assert_string_equal(p.text[PROGRAM_OPT_UNIT], "units/h");
        assert_false(p.given[PROGRAM_OPT_RATE]);
        assert_false(p.given[PROGRAM_OPT_KVO]);         /* no defaults are added */

        assert_int_equal(program_request_first_given(&p, false), PROGRAM_OPT_VTBI);
        program_request_done(&p);

        assert_int_equal(program_request_first_given(&p, false), _PROGRAM_OPT_MAX);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CARE_AREA, "ICU"), 0);
        assert_int_equal(program_request_first_given(&p, false), PROGRAM_OPT_CARE_AREA);
        assert_int_equal(program_request_first_given(&p, true), _PROGRAM_OPT_MAX);
        program_request_done(&p);

        /* every key of API.md has an option, each once */
        for (unsigned i = 0; i < _PROGRAM_OPT_MAX; i++) {
                assert_non_null(program_options[i].option);
                assert_non_null(program_options[i].key);
                for (unsigned j = 0; j < i; j++) {
                        assert_string_not_equal(program_options[i].option, program_options[j].option);
                        assert_string_not_equal(program_options[i].key, program_options[j].key);
                }
        }
}

static void program_options_refuse_bad_values_with_clear_messages(void **state) {
        assert_program_error((const char *const[]) { "rate", "abc", NULL },
                             "--rate: 'abc' is not a number (in mL/h, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "vtbi", "10", "weight", "1e999", NULL },
                             "--weight: '1e999' is out of range.");
        assert_program_error((const char *const[]) { "dose", "1,5", NULL },
                             "--dose: '1,5' is not a number (in the drug's dose unit, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "duration", "1500ms", NULL },
                             "--duration: '1500ms' is not a whole number of seconds.");
        assert_program_error((const char *const[]) { "interval", "1 h", NULL },
                             "--interval: '1 h' is not a duration (like 30m, 1h, 90s, or 90 for seconds).");
        assert_program_error((const char *const[]) { "ramp-up", "4.5m", "ramp-down", "1s5", NULL },
                             "--ramp-down: '1s5' is not a duration (like 30m, 1h, 90s, or 90 for seconds).");
        assert_program_error((const char *const[]) { "interval", "9999999999", NULL },
                             "--interval: '9999999999' is too long.");
        assert_program_error((const char *const[]) { "doses", "-1", NULL },
                             "--doses: '-1' is not a whole number (like 0, 1, 2).");
        assert_program_error((const char *const[]) { "concentration", "4294967296", NULL },
                             "--concentration: '4294967296' is out of range.");
        assert_program_error((const char *const[]) { "step", "100:20", "step", "100-20", NULL },
                             "--step: '100-20' is not RATE:VOLUME (in mL/h and mL, like 100:20).");
        assert_program_error((const char *const[]) { "step", "1e999:20", NULL },
                             "--step: '1e999:20' is out of range.");
        assert_program_error((const char *const[]) { "mode", "Continuous", NULL },
                             "--mode: 'Continuous' is not a mode (expected continuous, volume-time, multistep, "
                             "loading, intermittent, ramp or pca).");
        assert_program_error((const char *const[]) { "drug", "", NULL },
                             "--drug: the value must not be empty.");
        assert_program_error((const char *const[]) { "reason", "bad \xff byte", NULL },
                             "--reason: the value is not valid UTF-8 (at byte 5).");
        assert_program_error((const char *const[]) { "confirm-soft-limits", "", NULL },
                             "--confirm-soft-limits needs --reason TEXT: the override is recorded with its reason.");

        /* every mode of API.md is accepted */
        for (size_t i = 0; program_modes[i]; i++) {
                ProgramRequest p = {};
                char err[256];

                assert_int_equal(program_request_set(&p, PROGRAM_OPT_MODE, program_modes[i]), 0);
                assert_int_equal(program_request_parse(&p, err, sizeof err), 0);
                program_request_done(&p);
        }
}

static void daemon_messages_map_keys_to_options(void **state) {
        size_t pos = 0;

        assert_int_equal(program_option_named_in("VtbiMl is required for mode continuous", &pos), PROGRAM_OPT_VTBI);
        pos = 0;
        assert_int_equal(program_option_named_in("KvoRateMlPerHour 30 is above the maximum", &pos), PROGRAM_OPT_KVO);
        pos = 0;
        assert_int_equal(program_option_named_in("DoseRateUnit \"mg/h\" is not the drug's", &pos), PROGRAM_OPT_UNIT);
        pos = 0;
        assert_int_equal(program_option_named_in("Steps rate -1 is not allowed", &pos), PROGRAM_OPT_STEP);

        /* whole words only, and each in turn */
        pos = 0;
        assert_int_equal(program_option_named_in("setting \"LoadingRateMlPerHour\" does not apply; nor RateMlPerHour.",
                                                 &pos), PROGRAM_OPT_LOADING_RATE);
        assert_int_equal(program_option_named_in("setting \"LoadingRateMlPerHour\" does not apply; nor RateMlPerHour.",
                                                 &pos), PROGRAM_OPT_RATE);
        assert_int_equal(program_option_named_in("setting \"LoadingRateMlPerHour\" does not apply; nor RateMlPerHour.",
                                                 &pos), _PROGRAM_OPT_MAX);

        pos = 0;
        assert_int_equal(program_option_named_in("XVtbiMl and VtbiMlX are not keys", &pos), _PROGRAM_OPT_MAX);
        pos = 0;
        assert_int_equal(program_option_named_in("", &pos), _PROGRAM_OPT_MAX);
        pos = 0;
        assert_int_equal(program_option_named_in(NULL, &pos), _PROGRAM_OPT_MAX);
}

static void pca_options_parse_to_their_keys(void **state) {
        static const struct {
                ProgramOption o;
                const char *option;
                const char *key;
        } table[] = {
                { PROGRAM_OPT_PCA_DOSE_ML,        "pca-dose-ml",        "PcaDoseMl" },
                { PROGRAM_OPT_PCA_DOSE,           "pca-dose",           "PcaDose" },
                { PROGRAM_OPT_LOCKOUT,            "lockout",            "LockoutSec" },
                { PROGRAM_OPT_MAX_DOSES_PER_HOUR, "max-doses-per-hour", "MaxDosesPerHour" },
                { PROGRAM_OPT_LIMIT_ML,           "limit-ml",           "LimitMl" },
                { PROGRAM_OPT_LIMIT_DOSE,         "limit-dose",         "LimitDose" },
                { PROGRAM_OPT_LIMIT_WINDOW,       "limit-window",       "LimitWindowSec" },
                { PROGRAM_OPT_BASAL_ML_PER_H,     "basal-ml-per-h",     "BasalRateMlPerHour" },
                { PROGRAM_OPT_BASAL_DOSE,         "basal-dose",         "BasalDose" },
                { PROGRAM_OPT_LOADING_DOSE_ML,    "loading-dose-ml",    "LoadingDoseMl" },
                { PROGRAM_OPT_LOADING_DOSE,       "loading-dose",       "LoadingDose" },
                { PROGRAM_OPT_PCA_BOLUS_RATE,     "pca-bolus-rate",     "PcaBolusRateMlPerHour" },
                { PROGRAM_OPT_LIMIT_KVO_RATE,     "limit-kvo-rate",     "LimitKvoRateMlPerHour" },
                { PROGRAM_OPT_NEW_PATIENT,        "new-patient",        "NewPatient" },
        };
        ProgramRequest p = {};
        char err[512] = "";

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                assert_string_equal(program_options[table[i].o].option, table[i].option);
                assert_string_equal(program_options[table[i].o].key, table[i].key);
        }
        assert_int_equal(program_options[PROGRAM_OPT_LOCKOUT].type, PROGRAM_VALUE_DURATION);
        assert_int_equal(program_options[PROGRAM_OPT_LIMIT_WINDOW].type, PROGRAM_VALUE_DURATION);
        assert_int_equal(program_options[PROGRAM_OPT_MAX_DOSES_PER_HOUR].type, PROGRAM_VALUE_UNSIGNED);
        assert_int_equal(program_options[PROGRAM_OPT_NEW_PATIENT].type, PROGRAM_VALUE_FLAG);
        assert_int_equal(program_options[PROGRAM_OPT_PCA_DOSE].type, PROGRAM_VALUE_DOUBLE);

        /* the integration test's PCA, and the rest of the keys */
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_CARE_AREA, "Med-Surg"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_MODE, "pca"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_PCA_DOSE_ML, "1"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LOCKOUT, "10m"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_MAX_DOSES_PER_HOUR, "4"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LIMIT_ML, "10"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LIMIT_WINDOW, "4h"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_VTBI, "50"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_BASAL_ML_PER_H, "0.5"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LOADING_DOSE_ML, "2.5"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_PCA_BOLUS_RATE, "120"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LIMIT_KVO_RATE, "0"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_NEW_PATIENT, NULL), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_NEW_PATIENT, NULL), -EEXIST);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LOCKOUT, "5m"), -EEXIST);

        assert_int_equal(program_request_parse(&p, err, sizeof err), 0);
        assert_string_equal(p.text[PROGRAM_OPT_MODE], "pca");
        assert_true(p.number[PROGRAM_OPT_PCA_DOSE_ML] == 1);
        assert_int_equal(p.whole[PROGRAM_OPT_LOCKOUT], 600);
        assert_int_equal(p.whole[PROGRAM_OPT_MAX_DOSES_PER_HOUR], 4);
        assert_true(p.number[PROGRAM_OPT_LIMIT_ML] == 10);
        assert_int_equal(p.whole[PROGRAM_OPT_LIMIT_WINDOW], 14400);
        assert_true(p.number[PROGRAM_OPT_BASAL_ML_PER_H] == 0.5);
        assert_true(p.number[PROGRAM_OPT_LOADING_DOSE_ML] == 2.5);
        assert_true(p.number[PROGRAM_OPT_PCA_BOLUS_RATE] == 120);
        assert_true(p.number[PROGRAM_OPT_LIMIT_KVO_RATE] == 0);
        assert_true(p.given[PROGRAM_OPT_NEW_PATIENT]);
        /* only the options given are sent: no dose in the PCA unit, no KVO */
        assert_false(p.given[PROGRAM_OPT_PCA_DOSE]);
        assert_false(p.given[PROGRAM_OPT_LIMIT_DOSE]);
        assert_false(p.given[PROGRAM_OPT_BASAL_DOSE]);
        assert_false(p.given[PROGRAM_OPT_LOADING_DOSE]);
        assert_false(p.given[PROGRAM_OPT_KVO]);
        program_request_done(&p);

        /* in the drug's PCA unit; a lockout in plain seconds */
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_PCA_DOSE, "1.5"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LIMIT_DOSE, "12"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_BASAL_DOSE, "0.25"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LOADING_DOSE, "2"), 0);
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_LOCKOUT, "480"), 0);
        assert_int_equal(program_request_parse(&p, err, sizeof err), 0);
        assert_true(p.number[PROGRAM_OPT_PCA_DOSE] == 1.5);
        assert_true(p.number[PROGRAM_OPT_LIMIT_DOSE] == 12);
        assert_true(p.number[PROGRAM_OPT_BASAL_DOSE] == 0.25);
        assert_true(p.number[PROGRAM_OPT_LOADING_DOSE] == 2);
        assert_int_equal(p.whole[PROGRAM_OPT_LOCKOUT], 480);
        assert_false(p.given[PROGRAM_OPT_PCA_DOSE_ML]);
        assert_int_equal(program_request_first_given(&p, false), PROGRAM_OPT_PCA_DOSE);
        program_request_done(&p);

        /* --new-patient alone is a setting: program does not ask for more */
        assert_int_equal(program_request_set(&p, PROGRAM_OPT_NEW_PATIENT, NULL), 0);
        assert_int_equal(program_request_first_given(&p, false), PROGRAM_OPT_NEW_PATIENT);
        program_request_done(&p);
}

static void pca_options_refuse_bad_values_with_clear_messages(void **state) {
        assert_program_error((const char *const[]) { "mode", "PCA", NULL },
                             "--mode: 'PCA' is not a mode (expected continuous, volume-time, multistep, "
                             "loading, intermittent, ramp or pca).");
        assert_program_error((const char *const[]) { "pca-dose-ml", "1mL", NULL },
                             "--pca-dose-ml: '1mL' is not a number (in mL, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "pca-dose", "two", NULL },
                             "--pca-dose: 'two' is not a number (in the drug's PCA unit, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "lockout", "10 min", NULL },
                             "--lockout: '10 min' is not a duration (like 30m, 1h, 90s, or 90 for seconds).");
        assert_program_error((const char *const[]) { "lockout", "7.5s", NULL },
                             "--lockout: '7.5s' is not a whole number of seconds.");
        assert_program_error((const char *const[]) { "max-doses-per-hour", "4.5", NULL },
                             "--max-doses-per-hour: '4.5' is not a whole number (like 0, 1, 2).");
        assert_program_error((const char *const[]) { "limit-ml", "1e999", NULL },
                             "--limit-ml: '1e999' is out of range.");
        assert_program_error((const char *const[]) { "limit-dose", "", NULL },
                             "--limit-dose: '' is not a number (in the drug's PCA unit, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "limit-window", "4 h", NULL },
                             "--limit-window: '4 h' is not a duration (like 30m, 1h, 90s, or 90 for seconds).");
        assert_program_error((const char *const[]) { "limit-window", "9999999999h", NULL },
                             "--limit-window: '9999999999h' is too long.");
        assert_program_error((const char *const[]) { "basal-ml-per-h", "0,5", NULL },
                             "--basal-ml-per-h: '0,5' is not a number (in mL/h, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "basal-dose", "x", NULL },
                             "--basal-dose: 'x' is not a number (in the drug's PCA unit per hour, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "loading-dose-ml", "-", NULL },
                             "--loading-dose-ml: '-' is not a number (in mL, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "loading-dose", "nan", NULL },
                             "--loading-dose: 'nan' is not a number (in the drug's PCA unit, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "pca-bolus-rate", "fast", NULL },
                             "--pca-bolus-rate: 'fast' is not a number (in mL/h, like 100 or 2.5).");
        assert_program_error((const char *const[]) { "limit-kvo-rate", "inf", NULL },
                             "--limit-kvo-rate: 'inf' is not a number (in mL/h, like 100 or 2.5).");
}

static void daemon_messages_map_pca_keys_to_options(void **state) {
        const char *m = "PcaDose is not in the library's unit; use PcaDoseMl.";
        size_t pos = 0;

        /* PcaDose is not PcaDoseMl, nor LimitMl LimitKvoRateMlPerHour */
        assert_int_equal(program_option_named_in(m, &pos), PROGRAM_OPT_PCA_DOSE);
        assert_int_equal(program_option_named_in(m, &pos), PROGRAM_OPT_PCA_DOSE_ML);
        assert_int_equal(program_option_named_in(m, &pos), _PROGRAM_OPT_MAX);
        pos = 0;
        assert_int_equal(program_option_named_in("LockoutSec 60 is shorter than the dose takes", &pos),
                         PROGRAM_OPT_LOCKOUT);
        pos = 0;
        assert_int_equal(program_option_named_in("LimitKvoRateMlPerHour 5 is above LimitMl", &pos),
                         PROGRAM_OPT_LIMIT_KVO_RATE);
        assert_int_equal(program_option_named_in("LimitKvoRateMlPerHour 5 is above LimitMl", &pos),
                         PROGRAM_OPT_LIMIT_ML);
        pos = 0;
        assert_int_equal(program_option_named_in("LimitWindowSec must be 3600 to 43200", &pos),
                         PROGRAM_OPT_LIMIT_WINDOW);
        pos = 0;
        assert_int_equal(program_option_named_in("MaxDosesPerHour 61 is out of range", &pos),
                         PROGRAM_OPT_MAX_DOSES_PER_HOUR);
        pos = 0;
        assert_int_equal(program_option_named_in("BasalDose needs a Drug", &pos), PROGRAM_OPT_BASAL_DOSE);
        pos = 0;
        assert_int_equal(program_option_named_in("setting \"NewPatient\" has type s", &pos), PROGRAM_OPT_NEW_PATIENT);
}

/* ---- alarms ---- */

/* 2024-01-01 12:00:00 UTC; main() sets TZ=UTC. */
#define NOON_USEC (UINT64_C(1704110400) * 1000000)
#define SEC_USEC UINT64_C(1000000)

static char *capture_alarm_table(const Alarm *alarms, size_t n, uint64_t paused_until_usec) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(alarms_write_table(f, alarms, n, paused_until_usec), 0);
        assert_int_equal(fclose(f), 0);
        return out;
}

static char *capture_alarm_json(const Alarm *alarms, size_t n, uint64_t paused_until_usec) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(alarms_write_json(f, alarms, n, paused_until_usec), 0);
        assert_int_equal(fclose(f), 0);
        return out;
}

static void alarms_sort_highest_priority_first_then_newest(void **state) {
        Alarm a[] = {
                { .id = (char *) "a1", .priority = (char *) "low",    .raised_usec = NOON_USEC + 5 * SEC_USEC },
                { .id = (char *) "a2", .priority = (char *) "high",   .raised_usec = NOON_USEC },
                { .id = (char *) "a3", .priority = (char *) "urgent", .raised_usec = NOON_USEC + 9 * SEC_USEC },
                { .id = (char *) "a4", .priority = (char *) "medium", .raised_usec = NOON_USEC },
                { .id = (char *) "a5", .priority = (char *) "high",   .raised_usec = NOON_USEC + 3 * SEC_USEC },
                { .id = (char *) "a0", .priority = (char *) "high",   .raised_usec = NOON_USEC },
        };

        alarms_sort(a, ELEMENTSOF(a));
        /* high (newest first, then by id), medium, low, then the unknown */
        assert_string_equal(a[0].id, "a5");
        assert_string_equal(a[1].id, "a0");
        assert_string_equal(a[2].id, "a2");
        assert_string_equal(a[3].id, "a4");
        assert_string_equal(a[4].id, "a1");
        assert_string_equal(a[5].id, "a3");

        assert_int_equal(alarm_priority_rank("high"), 3);
        assert_int_equal(alarm_priority_rank("medium"), 2);
        assert_int_equal(alarm_priority_rank("low"), 1);
        assert_int_equal(alarm_priority_rank("HIGH"), 0);
        assert_int_equal(alarm_priority_rank(NULL), 0);
        alarms_sort(NULL, 0);
}

static void alarm_table_has_a_header_and_local_raise_times(void **state) {
        const Alarm a[] = {
                { (char *) "occlusion-downstream-1", (char *) "occlusion-downstream", (char *) "high",
                  NOON_USEC + 62 * SEC_USEC, (char *) "Downstream occlusion: 310 mmHg, limit 300 mmHg." },
                { (char *) "battery-low-2", (char *) "battery-low", (char *) "medium",
                  NOON_USEC + 3600 * SEC_USEC, (char *) "Battery low:\n25 min left." },
        };
        _cleanup_(freep) char *out = capture_alarm_table(a, ELEMENTSOF(a), 0);

        assert_string_equal(out,
                "ID                      PRIORITY  CONDITION             RAISED    MESSAGE\n"
                "occlusion-downstream-1  high      occlusion-downstream  12:01:02  "
                "Downstream occlusion: 310 mmHg, limit 300 mmHg.\n"
                "battery-low-2           medium    battery-low           13:00:00  Battery low: 25 min left.\n");
}

static void alarm_table_says_when_there_are_none(void **state) {
        _cleanup_(freep) char *out = capture_alarm_table(NULL, 0, 0);

        assert_string_equal(out, "No active alarms.\n");
}

static void alarm_table_ends_with_the_audio_paused_line(void **state) {
        const Alarm a[] = {
                { (char *) "air-1", (char *) "air-in-line", (char *) "high", NOON_USEC, (char *) "Air in line." },
        };
        _cleanup_(freep) char *out = capture_alarm_table(a, ELEMENTSOF(a), NOON_USEC + 120 * SEC_USEC);
        _cleanup_(freep) char *none = capture_alarm_table(NULL, 0, NOON_USEC + 90 * SEC_USEC);
        char line[FORMAT_AUDIO_PAUSED_MAX];

        assert_string_equal(out,
                "ID     PRIORITY  CONDITION    RAISED    MESSAGE\n"
                "air-1  high      air-in-line  12:00:00  Air in line.\n"
                "Alarm audio paused until 12:02:00.\n");
        /* the alarm cleared during the pause: the pause still shows */
        assert_string_equal(none, "No active alarms.\nAlarm audio paused until 12:01:30.\n");

        assert_int_equal(format_audio_paused(line, sizeof line, NOON_USEC + 1), 0);
        assert_string_equal(line, "Alarm audio paused until 12:00:00.");
        assert_int_equal(format_audio_paused(line, 10, NOON_USEC), -ENOBUFS);
}

static void alarms_json_is_one_object_with_the_array_and_the_pause(void **state) {
        const Alarm a[] = {
                { (char *) "door-3", (char *) "door-open", (char *) "high", NOON_USEC,
                  (char *) "Door \"open\"\n" },
                { (char *) "battery-low-2", (char *) "battery-low", (char *) "medium", NOON_USEC + 1, (char *) "" },
        };
        _cleanup_(freep) char *out = capture_alarm_json(a, ELEMENTSOF(a), NOON_USEC + 120 * SEC_USEC);
        _cleanup_(freep) char *none = capture_alarm_json(NULL, 0, 0);

        assert_string_equal(out,
                "{\"alarms\":["
                "{\"id\":\"door-3\",\"condition\":\"door-open\",\"priority\":\"high\","
                "\"raised_usec\":1704110400000000,\"message\":\"Door \\\"open\\\"\\n\"},"
                "{\"id\":\"battery-low-2\",\"condition\":\"battery-low\",\"priority\":\"medium\","
                "\"raised_usec\":1704110400000001,\"message\":\"\"}"
                "],\"audio_paused_until_usec\":1704110520000000}\n");
        assert_string_equal(none, "{\"alarms\":[],\"audio_paused_until_usec\":0}\n");
}

static void silence_result_says_how_long_and_until_when(void **state) {
        char line[FORMAT_AUDIO_PAUSED_MAX];

        /* the reply is read a little after the daemon worked it out */
        assert_int_equal(format_silence_result(line, sizeof line, NOON_USEC + 120 * SEC_USEC, NOON_USEC + 3000), 0);
        assert_string_equal(line, "Alarm audio paused for 2 min, until 12:02:00.");
        assert_int_equal(format_silence_result(line, sizeof line, NOON_USEC + 90 * SEC_USEC, NOON_USEC), 0);
        assert_string_equal(line, "Alarm audio paused for 1 min 30 s, until 12:01:30.");
        assert_int_equal(format_silence_result(line, sizeof line, NOON_USEC + 45 * SEC_USEC, NOON_USEC), 0);
        assert_string_equal(line, "Alarm audio paused for 45 s, until 12:00:45.");

        /* a pump clock that is not this one's (virtual, or far off): no length */
        assert_int_equal(format_silence_result(line, sizeof line, NOON_USEC, NOON_USEC + SEC_USEC), 0);
        assert_string_equal(line, "Alarm audio paused until 12:00:00.");
        assert_int_equal(format_silence_result(line, sizeof line, NOON_USEC + 2 * 86400 * SEC_USEC, NOON_USEC), 0);
        assert_string_equal(line, "Alarm audio paused until 12:00:00.");

        assert_int_equal(format_silence_result(line, 20, NOON_USEC + 120 * SEC_USEC, NOON_USEC), -ENOBUFS);
}

static void clocks_are_local_wall_time(void **state) {
        char buf[FORMAT_CLOCK_MAX];

        assert_int_equal(format_clock_usec(buf, sizeof buf, NOON_USEC + 3 * 3600 * SEC_USEC + 999999), 0);
        assert_string_equal(buf, "15:00:00");
        assert_int_equal(format_clock_usec(buf, sizeof buf, 0), 0);
        assert_string_equal(buf, "00:00:00");

        assert_int_equal(setenv("TZ", "EET-2", 1), 0);
        tzset();
        assert_int_equal(format_clock_usec(buf, sizeof buf, NOON_USEC), 0);
        assert_string_equal(buf, "14:00:00");
        assert_int_equal(setenv("TZ", "UTC", 1), 0);
        tzset();

        assert_int_equal(format_clock_usec(buf, 4, NOON_USEC), -ENOBUFS);
}

static void power_says_mains_or_battery_and_tolerates_unknowns(void **state) {
        char buf[FORMAT_POWER_MAX];

        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_on_mains = true, .on_mains = true,
                .has_battery_percent = true, .battery_percent = 87,
                .has_battery_minutes_left = true, .battery_minutes_left = -1 }), 0);
        assert_string_equal(buf, "on mains (battery 87 %)");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_on_mains = true, .on_mains = true,
                .has_battery_percent = true, .battery_percent = -1 }), 0);
        assert_string_equal(buf, "on mains");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_on_mains = true, .on_mains = false,
                .has_battery_percent = true, .battery_percent = 54,
                .has_battery_minutes_left = true, .battery_minutes_left = 73 }), 0);
        assert_string_equal(buf, "on battery, 54 %, 73 min left");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_on_mains = true, .on_mains = false,
                .has_battery_percent = true, .battery_percent = 54,
                .has_battery_minutes_left = true, .battery_minutes_left = -1 }), 0);
        assert_string_equal(buf, "on battery, 54 %");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_on_mains = true, .on_mains = false,
                .has_battery_percent = true, .battery_percent = -1,
                .has_battery_minutes_left = true, .battery_minutes_left = 12 }), 0);
        assert_string_equal(buf, "on battery, charge unknown, 12 min left");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) { .has_on_mains = true }), 0);
        assert_string_equal(buf, "on battery, charge unknown");
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_battery_percent = true, .battery_percent = 30 }), 0);
        assert_string_equal(buf, "battery 30 %");

        /* an infusiond older than battery support */
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {}), -ENODATA);
        assert_int_equal(format_power(buf, sizeof buf, &(PowerStatus) {
                .has_battery_percent = true, .battery_percent = -1 }), -ENODATA);
}

static void tables_pad_columns_and_blank_control_characters(void **state) {
        const char *const cells[] = { "A", "BB", "C", "long\tcell", "\xc2\xb5", "x" };
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(table_write(f, cells, ELEMENTSOF(cells), 3), 0);
        assert_int_equal(table_write(f, cells, 2, 0), -EINVAL);
        assert_int_equal(table_write(f, cells, 2, 9), -EINVAL);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(out,
                "A          BB  C\n"
                "long cell  \xc2\xb5   x\n");
        free(out);
}

/* ---- sim ---- */

/* ---- PCA ---- */

static void spans_read_like_a_person_says_them(void **state) {
        char buf[FORMAT_SPAN_MAX];

        assert_int_equal(format_span_sec(buf, sizeof buf, 0), 0);
        assert_string_equal(buf, "0 s");
        assert_int_equal(format_span_sec(buf, sizeof buf, 45), 0);
        assert_string_equal(buf, "45 s");
        assert_int_equal(format_span_sec(buf, sizeof buf, 600), 0);
        assert_string_equal(buf, "10 min");
        assert_int_equal(format_span_sec(buf, sizeof buf, 590), 0);
        assert_string_equal(buf, "9 min 50 s");
        assert_int_equal(format_span_sec(buf, sizeof buf, 14400), 0);
        assert_string_equal(buf, "4 h");
        assert_int_equal(format_span_sec(buf, sizeof buf, 5400), 0);
        assert_string_equal(buf, "1 h 30 min");
        assert_int_equal(format_span_sec(buf, sizeof buf, 3605), 0);
        assert_string_equal(buf, "1 h 5 s");
        assert_int_equal(format_span_sec(buf, sizeof buf, 90061), 0);
        assert_string_equal(buf, "25 h 1 min 1 s");
        assert_int_equal(format_span_sec(buf, sizeof buf, UINT64_MAX), 0);
        assert_string_equal(buf, "5124095576030431 h 15 s");

        assert_int_equal(format_span_sec(buf, 5, 600), -ENOBUFS);
        assert_true(strlen(buf) < 5);
        assert_int_equal(format_span_sec(buf, 0, 600), -ENOBUFS);
}

static void pca_demand_results_say_the_outcome_and_what_next(void **state) {
        char buf[FORMAT_PCA_LINE_MAX];

        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "granted", 12, 600), 0);
        assert_string_equal(buf, "Granted: demand 12; next demand allowed in 10 min.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "lockout", 13, 590), 0);
        assert_string_equal(buf, "Denied (lockout): demand 13; next demand allowed in 9 min 50 s.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "hourly-count", 14, 1200), 0);
        assert_string_equal(buf, "Denied (hourly-count): demand 14; next demand allowed in 20 min.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "granted", 1, 0), 0);
        assert_string_equal(buf, "Granted: demand 1; next demand allowed now.");

        /* denials the lockout and the hourly count do not speak for say why */
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "cumulative-limit", 15, 0), 0);
        assert_string_equal(buf, "Denied (cumulative-limit): demand 15; the dose would cross the limit of its window.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "not-running", 16, 0), 0);
        assert_string_equal(buf, "Denied (not-running): demand 16; the channel is not delivering.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "alarm-active", 17, 0), 0);
        assert_string_equal(buf, "Denied (alarm-active): demand 17; an alarm has halted delivery.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "reservoir", 18, 300), 0);
        assert_string_equal(buf, "Denied (reservoir): demand 18; less is left than a dose.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "bolus-in-progress", 19, 0), 0);
        assert_string_equal(buf, "Denied (bolus-in-progress): demand 19; a bolus or the loading dose is being given.");

        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "debounced", 12, 599), 0);
        assert_string_equal(buf, "Debounced: the press merged into demand 12.");
        /* a word from a newer infusiond */
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, "door-open", 20, 60), 0);
        assert_string_equal(buf, "Denied (door-open): demand 20.");
        assert_int_equal(format_pca_demand_result(buf, sizeof buf, NULL, 21, 0), 0);
        assert_string_equal(buf, "Denied (): demand 21.");

        assert_int_equal(format_pca_demand_result(buf, 20, "granted", 12, 600), -ENOBUFS);
        assert_true(strlen(buf) < 20);

        /* what demand's exit status follows */
        assert_true(pca_outcome_granted("granted"));
        assert_false(pca_outcome_granted("lockout"));
        assert_false(pca_outcome_granted("debounced"));
        assert_false(pca_outcome_granted("Granted"));
        assert_false(pca_outcome_granted(NULL));
}

static PcaStatus sample_pca(void) {
        return (PcaStatus) {
                .mode = "pca", .state = "running",
                .dose_ml = 1, .lockout_sec = 600, .max_doses_per_hour = 4,
                .window_limit_ml = 10, .limit_window_sec = 14400, .basal_ml_per_h = 0,
                .demands_total = 12, .demands_granted = 5, .next_allowed_sec = 180,
                .window_volume_ml = 8, .limit_reached = false,
        };
}

static void pca_status_line_has_settings_counts_and_next(void **state) {
        char buf[FORMAT_PCA_LINE_MAX];
        PcaStatus s = sample_pca();

        assert_true(pca_status_is_pca(&s));
        assert_int_equal(format_pca_status_line(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "1 mL, lockout 10 min, 4/h, limit 8 of 10 mL per 4 h; demands 12 (5 granted); next in 3 min");

        s.basal_ml_per_h = 0.5;
        s.next_allowed_sec = 0;
        s.window_volume_ml = 9.4;
        s.limit_reached = true;
        s.dose_ml = 0.75;
        s.lockout_sec = 450;
        assert_int_equal(format_pca_status_line(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "0.75 mL, lockout 7 min 30 s, 4/h, basal 0.5 mL/h, limit 9.4 of 10 mL per 4 h; "
                            "demands 12 (5 granted); next allowed now; limit reached");

        assert_int_equal(format_pca_status_line(buf, 30, &s), -ENOBUFS);
        assert_true(strlen(buf) < 30);

        s.mode[0] = '\0';
        assert_false(pca_status_is_pca(&s));
        snprintf(s.mode, sizeof s.mode, "continuous");
        assert_false(pca_status_is_pca(&s));
}

static void summary_of_a_pca_names_dose_lockout_and_limit(void **state) {
        char buf[1024];
        PcaStatus p = sample_pca();
        ProgramSummary s = {
                .mode = "pca", .care_area = "Med-Surg", .has_library_properties = true, .drug = "", .drug_name = "",
                .dose_rate = NAN, .dose_rate_unit = "", .concentration = "", .rate_ml_per_h = 0, .vtbi_ml = 50,
                .pca = &p,
        };

        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (pca): 1 mL a demand, lockout 10 min, at most 4 an hour, "
                            "limit 10 mL in any 4 h, VTBI 50.000 mL in Med-Surg (no library drug)");

        p.basal_ml_per_h = 0.5;
        s = (ProgramSummary) {
                .mode = "pca", .care_area = "ICU", .has_library_properties = true, .drug = "morphine",
                .drug_name = "Morphine", .dose_rate = NAN, .dose_rate_unit = "mg/h",
                .concentration = "1 mg / 1 mL", .rate_ml_per_h = 0.5, .vtbi_ml = 30, .pca = &p,
        };
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (pca): Morphine (1 mg / 1 mL) in ICU: 1 mL a demand, lockout 10 min, "
                            "at most 4 an hour, limit 10 mL in any 4 h, basal 0.5 mL/h, VTBI 30.000 mL");

        /* without pca, mode pca reads as the other modes do */
        s.pca = NULL;
        assert_int_equal(format_program_summary(buf, sizeof buf, &s), 0);
        assert_string_equal(buf, "Programmed (pca): Morphine (1 mg / 1 mL) in ICU = 0.500 mL/h, VTBI 30.000 mL");
}

static char *capture_pca_report(const PcaStatus *s, const PcaDemand *d, size_t n) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(pca_write_report(f, 0, s, d, n), 0);
        assert_int_equal(fclose(f), 0);
        return out;
}

static char *capture_pca_json(const PcaStatus *s, const PcaDemand *d, size_t n) {
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(pca_write_json(f, s, d, n), 0);
        assert_int_equal(fclose(f), 0);
        return out;
}

static const PcaDemand sample_demands[] = {
        { 3, NOON_USEC + 120 * SEC_USEC, (char *) "simulator", (char *) "lockout", (char *) "", 0 },
        { 2, NOON_USEC + 60 * SEC_USEC, (char *) "dbus", (char *) "lockout", (char *) "next in\n9 min", 0 },
        { 1, NOON_USEC, (char *) "dbus", (char *) "granted", (char *) "", 1 },
};

static void pca_report_shows_settings_window_and_demands(void **state) {
        PcaStatus s = sample_pca();
        _cleanup_(freep) char *out = NULL, *none = NULL;

        s.demands_total = 3;
        s.demands_granted = 1;
        s.next_allowed_sec = 480;
        s.window_volume_ml = 1.4;
        out = capture_pca_report(&s, sample_demands, ELEMENTSOF(sample_demands));
        assert_string_equal(out,
                "Channel 0: PCA, running\n"
                "        PCA dose: 1 mL\n"
                "         Lockout: 10 min\n"
                "    Max per hour: 4 doses\n"
                "           Limit: 10 mL in any 4 h\n"
                "      Basal rate: none\n"
                "         Demands: 3 (1 granted)\n"
                "     Next demand: allowed in 8 min\n"
                "   Window volume: 1.4 of 10 mL (14 %)\n"
                "   Limit reached: no\n"
                "\n"
                "TIME      SOURCE     OUTCOME  DOSE (mL)  DETAIL\n"
                "12:02:00  simulator  lockout  0.000      \n"
                "12:01:00  dbus       lockout  0.000      next in 9 min\n"
                "12:00:00  dbus       granted  1.000      \n");

        /* outside mode pca: the counters and the history stand, the settings do not */
        s = (PcaStatus) { .mode = "continuous", .state = "idle", .demands_total = 3, .demands_granted = 1,
                          .window_volume_ml = 1 };
        none = capture_pca_report(&s, NULL, 0);
        assert_string_equal(none,
                "Channel 0 is not in PCA mode (mode continuous); its PCA history still stands.\n"
                "         Demands: 3 (1 granted)\n"
                "     Next demand: allowed now\n"
                "   Window volume: 1 mL\n"
                "   Limit reached: no\n"
                "\n"
                "No demands recorded.\n");
        free(none);

        s = (PcaStatus) { .mode = "" };
        none = capture_pca_report(&s, NULL, 0);
        assert_non_null(strstr(none, "Channel 0 is not in PCA mode (no program); its PCA history still stands.\n"));

        /* in the limit state, with a basal rate, the window past its limit */
        free(out);
        s = sample_pca();
        s.basal_ml_per_h = 0.25;
        s.window_volume_ml = 10.5;
        s.limit_reached = true;
        out = capture_pca_report(&s, NULL, 0);
        assert_non_null(strstr(out, "      Basal rate: 0.25 mL/h\n"));
        assert_non_null(strstr(out, "   Window volume: 10.5 of 10 mL (105 %)\n"));
        assert_non_null(strstr(out, "   Limit reached: yes\n"));
}

static void pca_json_is_one_object_with_snake_case_keys(void **state) {
        PcaStatus s = sample_pca();
        _cleanup_(freep) char *out = NULL, *none = NULL;

        s.demands_total = 3;
        s.demands_granted = 1;
        s.next_allowed_sec = 480;
        s.window_volume_ml = 1.4;
        out = capture_pca_json(&s, sample_demands, 2);
        assert_string_equal(out,
                "{\"mode\":\"pca\",\"state\":\"running\",\"pca_dose_ml\":1,\"lockout_sec\":600,"
                "\"max_doses_per_hour\":4,\"window_limit_ml\":10,\"limit_window_sec\":14400,"
                "\"basal_rate_ml_per_hour\":0,\"pca_demands_total\":3,\"pca_demands_granted\":1,"
                "\"next_demand_allowed_sec\":480,\"window_volume_ml\":1.4,\"pca_limit_reached\":false,"
                "\"demands\":["
                "{\"id\":3,\"utc_usec\":1704110520000000,\"source\":\"simulator\",\"outcome\":\"lockout\","
                "\"detail\":\"\",\"dose_ml\":0},"
                "{\"id\":2,\"utc_usec\":1704110460000000,\"source\":\"dbus\",\"outcome\":\"lockout\","
                "\"detail\":\"next in\\n9 min\",\"dose_ml\":0}"
                "]}\n");

        s = (PcaStatus) { .mode = "", .limit_reached = true, .window_volume_ml = NAN };
        none = capture_pca_json(&s, NULL, 0);
        assert_string_equal(none,
                "{\"mode\":\"\",\"state\":\"\",\"pca_dose_ml\":0,\"lockout_sec\":0,"
                "\"max_doses_per_hour\":0,\"window_limit_ml\":0,\"limit_window_sec\":0,"
                "\"basal_rate_ml_per_hour\":0,\"pca_demands_total\":0,\"pca_demands_granted\":0,"
                "\"next_demand_allowed_sec\":0,\"window_volume_ml\":null,\"pca_limit_reached\":true,"
                "\"demands\":[]}\n");
}

static int parse_sim(const char *const *args, SimCommand *c, char *err, size_t err_size) {
        size_t n = 0;

        while (args[n])
                n++;
        return sim_command_parse((char *const *) args, n, c, err, err_size);
}

static SimCommand assert_sim_ok(const char *const *args) {
        SimCommand c = {};
        char err[512] = "";

        assert_int_equal(parse_sim(args, &c, err, sizeof err), 0);
        assert_string_equal(err, "");
        return c;
}

static void assert_sim_error(const char *const *args, const char *expected) {
        SimCommand c = { .action = SIM_OUTPUTS, .motor_gain = 42 };
        char err[512] = "";

        assert_int_equal(parse_sim(args, &c, err, sizeof err), -EINVAL);
        assert_string_equal(err, expected);
        /* nothing is written on failure */
        assert_int_equal(c.action, SIM_OUTPUTS);
        assert_true(c.motor_gain == 42);
}

#define SIM(...) ((const char *const[]) { __VA_ARGS__, NULL })

static void sim_commands_parse_their_arguments(void **state) {
        SimCommand c;

        c = assert_sim_ok(SIM("advance", "5m"));
        assert_int_equal(c.action, SIM_ADVANCE);
        assert_true(c.advance_usec == 300 * SEC_USEC);

        c = assert_sim_ok(SIM("occlude", "on"));
        assert_int_equal(c.action, SIM_OCCLUDE);
        assert_true(c.on);
        c = assert_sim_ok(SIM("upstream", "off"));
        assert_int_equal(c.action, SIM_UPSTREAM);
        assert_false(c.on);
        c = assert_sim_ok(SIM("stall", "on"));
        assert_int_equal(c.action, SIM_STALL);
        assert_true(c.on);

        c = assert_sim_ok(SIM("air", "50"));
        assert_int_equal(c.action, SIM_AIR);
        assert_true(c.volume_ul == 50);
        c = assert_sim_ok(SIM("air", "0.5"));
        assert_true(c.volume_ul == 0.5);

        c = assert_sim_ok(SIM("door", "open"));
        assert_int_equal(c.action, SIM_DOOR);
        assert_true(c.on);
        c = assert_sim_ok(SIM("door", "closed"));
        assert_false(c.on);

        c = assert_sim_ok(SIM("battery", "15"));
        assert_int_equal(c.action, SIM_BATTERY);
        assert_false(c.on);
        assert_true(c.battery_percent == 15);
        c = assert_sim_ok(SIM("battery", "0"));
        assert_false(c.on);
        assert_true(c.battery_percent == 0);
        c = assert_sim_ok(SIM("battery", "100"));
        assert_true(c.battery_percent == 100);
        c = assert_sim_ok(SIM("battery", "mains"));
        assert_true(c.on);
        assert_true(c.battery_percent == 100);
        c = assert_sim_ok(SIM("battery", "mains", "40.5"));
        assert_true(c.on);
        assert_true(c.battery_percent == 40.5);

        for (size_t i = 0; sim_sensors[i]; i++)
                for (size_t j = 0; sim_faults[j]; j++) {
                        c = assert_sim_ok(SIM("fail-sensor", sim_sensors[i], sim_faults[j]));
                        assert_int_equal(c.action, SIM_FAIL_SENSOR);
                        assert_string_equal(c.sensor, sim_sensors[i]);
                        assert_string_equal(c.fault, sim_faults[j]);
                }

        c = assert_sim_ok(SIM("motor-gain", "0"));
        assert_int_equal(c.action, SIM_MOTOR_GAIN);
        assert_true(c.motor_gain == 0);
        c = assert_sim_ok(SIM("motor-gain", "0.9"));
        assert_true(c.motor_gain == 0.9);
        c = assert_sim_ok(SIM("motor-gain", "2"));
        assert_true(c.motor_gain == 2);

        c = assert_sim_ok((const char *const[]) { "outputs", NULL });
        assert_int_equal(c.action, SIM_OUTPUTS);
        c = assert_sim_ok((const char *const[]) { "press-pca", NULL });
        assert_int_equal(c.action, SIM_PRESS_PCA);
}

static void sim_commands_refuse_bad_arguments_with_clear_messages(void **state) {
        const char *none[] = { NULL };

        assert_sim_error(none, "sim: expected a command (advance, occlude, upstream, air, door, battery, "
                         "fail-sensor, motor-gain, stall, outputs or press-pca).");
        assert_sim_error(SIM("occlusion", "on"),
                         "Unknown sim command 'occlusion' (expected advance, occlude, upstream, air, door, battery, "
                         "fail-sensor, motor-gain, stall, outputs or press-pca).");

        assert_sim_error(SIM("advance"), "sim advance: too few arguments (usage: sim advance DURATION).");
        assert_sim_error(SIM("advance", "5 m"),
                         "sim advance: '5 m' is not a duration (like 90, 360s, 5m, 2h, 1500ms, 250us).");
        assert_sim_error(SIM("advance", "99999999999999999999h"),
                         "sim advance: duration '99999999999999999999h' is too long.");

        assert_sim_error(SIM("occlude", "maybe"), "sim occlude: expected on or off, got 'maybe'.");
        assert_sim_error(SIM("occlude", "on", "off"), "sim occlude: too many arguments (usage: sim occlude on|off).");
        assert_sim_error(SIM("upstream", "ON"), "sim upstream: expected on or off, got 'ON'.");
        assert_sim_error(SIM("upstream"), "sim upstream: too few arguments (usage: sim upstream on|off).");
        assert_sim_error(SIM("stall", "yes please"), "sim stall: expected on or off, got 'yes please'.");

        assert_sim_error(SIM("air"), "sim air: too few arguments (usage: sim air UL).");
        assert_sim_error(SIM("air", "abc"), "sim air: 'abc' is not a volume (in microlitres, like 50 or 0.5).");
        assert_sim_error(SIM("air", "50uL"), "sim air: '50uL' is not a volume (in microlitres, like 50 or 0.5).");
        assert_sim_error(SIM("air", "0"), "sim air: volume 0 is out of range (more than 0 microlitres).");
        assert_sim_error(SIM("air", "-5"), "sim air: volume -5 is out of range (more than 0 microlitres).");
        assert_sim_error(SIM("air", "1e999"), "sim air: volume 1e999 is out of range (more than 0 microlitres).");

        assert_sim_error(SIM("door", "ajar"), "sim door: expected open or closed, got 'ajar'.");
        assert_sim_error(SIM("door", "on"), "sim door: expected open or closed, got 'on'.");
        assert_sim_error(SIM("door", "open", "now"), "sim door: too many arguments (usage: sim door open|closed).");

        assert_sim_error(SIM("battery"), "sim battery: too few arguments (usage: sim battery PCT | mains [PCT]).");
        assert_sim_error(SIM("battery", "full"),
                         "sim battery: expected mains or a charge from 0 to 100 (%), got 'full'.");
        assert_sim_error(SIM("battery", "101"), "sim battery: charge 101 is out of range (0 to 100 %).");
        assert_sim_error(SIM("battery", "-1"), "sim battery: charge -1 is out of range (0 to 100 %).");
        assert_sim_error(SIM("battery", "mains", "120"), "sim battery: charge 120 is out of range (0 to 100 %).");
        assert_sim_error(SIM("battery", "mains", "half"),
                         "sim battery: 'half' is not a charge (a number from 0 to 100, in %).");
        assert_sim_error(SIM("battery", "50", "60"),
                         "sim battery: only mains takes a charge after it, got '50 60' "
                         "(usage: sim battery PCT | mains [PCT]).");
        assert_sim_error(SIM("battery", "mains", "50", "60"),
                         "sim battery: too many arguments (usage: sim battery PCT | mains [PCT]).");

        assert_sim_error(SIM("fail-sensor", "pressure-upstream"),
                         "sim fail-sensor: too few arguments (usage: sim fail-sensor SENSOR FAULT).");
        assert_sim_error(SIM("fail-sensor", "pressure", "stuck"),
                         "sim fail-sensor: unknown sensor 'pressure' (expected pressure-downstream, "
                         "pressure-upstream, plunger-position or battery-voltage).");
        assert_sim_error(SIM("fail-sensor", "battery-voltage", "broken"),
                         "sim fail-sensor: unknown fault 'broken' (expected ok, read-error, stuck, out-of-range or gone).");

        assert_sim_error(SIM("motor-gain", "fast"),
                         "sim motor-gain: 'fast' is not a gain (a number from 0 to 2, like 0.9; 1 is nominal).");
        assert_sim_error(SIM("motor-gain", "2.01"), "sim motor-gain: gain 2.01 is out of range (0 to 2; 1 is nominal).");
        assert_sim_error(SIM("motor-gain", "-0.1"), "sim motor-gain: gain -0.1 is out of range (0 to 2; 1 is nominal).");

        assert_sim_error(SIM("outputs", "all"), "sim outputs: too many arguments (usage: sim outputs).");
        assert_sim_error(SIM("press-pca", "twice"), "sim press-pca: too many arguments (usage: sim press-pca).");
}

static void sim_outputs_table_shows_state_and_changes(void **state) {
        const SimOutput o[] = {
                { (char *) "buzzer", true, 3 },
                { (char *) "led-red", true, 1 },
                { (char *) "led-yellow", false, 0 },
                { (char *) "nurse-call", false, 4294967295u },
        };
        char *out = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&out, &size);

        assert_non_null(f);
        assert_int_equal(sim_outputs_write_table(f, o, ELEMENTSOF(o)), 0);
        assert_int_equal(sim_outputs_write_table(f, NULL, 0), 0);
        assert_int_equal(fclose(f), 0);
        assert_string_equal(out,
                "OUTPUT      STATE  CHANGES\n"
                "buzzer      on     3\n"
                "led-red     on     1\n"
                "led-yellow  off    0\n"
                "nurse-call  off    4294967295\n"
                "No outputs.\n");
        free(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(progress_bar_is_empty_at_zero),
                cmocka_unit_test(progress_bar_fills_proportionally_and_rounds_down),
                cmocka_unit_test(progress_bar_is_full_at_hundred_percent),
                cmocka_unit_test(progress_bar_clamps_out_of_range_fractions),
                cmocka_unit_test(progress_bar_refuses_bad_widths_and_small_buffers),
                cmocka_unit_test(progress_fraction_excludes_kvo_volume_and_clamps),
                cmocka_unit_test(progress_permille_rounds_down_without_binary_noise),
                cmocka_unit_test(hms_formats_hours_minutes_seconds),
                cmocka_unit_test(volumes_have_three_decimals),
                cmocka_unit_test(rates_keep_the_digits_that_matter),
                cmocka_unit_test(pressures_are_whole_mmhg),
                cmocka_unit_test(progress_line_shows_everything_monitor_needs),
                cmocka_unit_test(durations_accept_units_and_plain_seconds),
                cmocka_unit_test(durations_refuse_garbage),
                cmocka_unit_test(durations_refuse_negatives),
                cmocka_unit_test(durations_refuse_overflow),
                cmocka_unit_test(doubles_must_parse_fully),
                cmocka_unit_test(unsigned_and_on_off_parse_strictly),
                cmocka_unit_test(one_line_blanks_control_characters),
                cmocka_unit_test(json_escapes_quotes_and_backslashes),
                cmocka_unit_test(json_escapes_control_characters),
                cmocka_unit_test(json_passes_utf8_and_replaces_invalid_bytes),
                cmocka_unit_test(json_doubles_are_shortest_and_never_nan),
                cmocka_unit_test(duration_seconds_accept_units_and_refuse_fractions),
                cmocka_unit_test(steps_are_rate_colon_volume),
                cmocka_unit_test(plain_numbers_and_doses_read_like_a_person_writes_them),
                cmocka_unit_test(summary_of_a_library_drug_shows_dose_concentration_and_rate),
                cmocka_unit_test(summary_of_a_basic_infusion_says_so),
                cmocka_unit_test(summary_from_an_older_daemon_is_rate_and_vtbi),
                cmocka_unit_test(utf8_prefix_and_columns),
                cmocka_unit_test(json_pretty_reindents_without_touching_values),
                cmocka_unit_test(program_options_parse_to_their_keys),
                cmocka_unit_test(program_options_refuse_bad_values_with_clear_messages),
                cmocka_unit_test(daemon_messages_map_keys_to_options),
                cmocka_unit_test(pca_options_parse_to_their_keys),
                cmocka_unit_test(pca_options_refuse_bad_values_with_clear_messages),
                cmocka_unit_test(daemon_messages_map_pca_keys_to_options),
                cmocka_unit_test(alarms_sort_highest_priority_first_then_newest),
                cmocka_unit_test(alarm_table_has_a_header_and_local_raise_times),
                cmocka_unit_test(alarm_table_says_when_there_are_none),
                cmocka_unit_test(alarm_table_ends_with_the_audio_paused_line),
                cmocka_unit_test(alarms_json_is_one_object_with_the_array_and_the_pause),
                cmocka_unit_test(silence_result_says_how_long_and_until_when),
                cmocka_unit_test(clocks_are_local_wall_time),
                cmocka_unit_test(power_says_mains_or_battery_and_tolerates_unknowns),
                cmocka_unit_test(tables_pad_columns_and_blank_control_characters),
                cmocka_unit_test(spans_read_like_a_person_says_them),
                cmocka_unit_test(pca_demand_results_say_the_outcome_and_what_next),
                cmocka_unit_test(pca_status_line_has_settings_counts_and_next),
                cmocka_unit_test(summary_of_a_pca_names_dose_lockout_and_limit),
                cmocka_unit_test(pca_report_shows_settings_window_and_demands),
                cmocka_unit_test(pca_json_is_one_object_with_snake_case_keys),
                cmocka_unit_test(sim_commands_parse_their_arguments),
                cmocka_unit_test(sim_commands_refuse_bad_arguments_with_clear_messages),
                cmocka_unit_test(sim_outputs_table_shows_state_and_changes),
        };

        /* Alarm times are local: pin the zone so the expected text holds. */
        setenv("TZ", "UTC", 1);
        tzset();
        return cmocka_run_group_tests(tests, NULL, NULL);
}
