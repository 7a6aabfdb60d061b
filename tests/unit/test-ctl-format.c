/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/macros.h"
#include "ctl/format.h"

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
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
