/* SPDX-License-Identifier: MIT */
/* The pure parts of `infusionctl history` and `export` (ctl/history-format.c). */
#include <errno.h>
#include <json-c/json.h>
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

#include "ctl/history-format.h"

#define SEC INT64_C(1000000)
/* 2026-11-24T10:00:00Z */
#define NOW (INT64_C(1795514400) * SEC)

static int64_t parse_ok(const char *text) {
        char err[HISTORY_ERROR_MAX];
        int64_t v = -42;

        assert_int_equal(history_parse_time("--since", text, NOW, &v, err, sizeof err), 0);
        return v;
}

/* Refused with r, and the message names the option and the text. */
static void assert_refused(const char *text, int r, const char *also) {
        char err[HISTORY_ERROR_MAX];
        int64_t v = -42;

        assert_int_equal(history_parse_time("--until", text, NOW, &v, err, sizeof err), r);
        assert_int_equal(v, -42);
        assert_non_null(strstr(err, "--until"));
        assert_non_null(strstr(err, text));
        if (also)
                assert_non_null(strstr(err, also));
}

/* ---- times ---- */

static void relative_times_count_back_from_now(void **state) {
        assert_int_equal(parse_ok("-24h"), NOW - 24 * 3600 * SEC);
        assert_int_equal(parse_ok("-7d"), NOW - 7 * 86400 * SEC);
        assert_int_equal(parse_ok("-30min"), NOW - 30 * 60 * SEC);
        assert_int_equal(parse_ok("-5m"), NOW - 5 * 60 * SEC);
        assert_int_equal(parse_ok("-90s"), NOW - 90 * SEC);
        assert_int_equal(parse_ok("-2w"), NOW - 14 * 86400 * SEC);
        assert_int_equal(parse_ok("-0s"), NOW);
        assert_int_equal(parse_ok("now"), NOW);
}

static void a_date_alone_is_midnight_utc(void **state) {
        assert_int_equal(parse_ok("2026-11-24"), INT64_C(1795478400) * SEC);
        assert_int_equal(parse_ok("1970-01-01"), 0);
        assert_int_equal(parse_ok("2024-02-29"), INT64_C(1709164800) * SEC);
}

static void iso_times_are_utc_with_or_without_seconds(void **state) {
        assert_int_equal(parse_ok("2026-11-24T10:00:00Z"), NOW);
        assert_int_equal(parse_ok("2026-11-24T10:00Z"), NOW);
        assert_int_equal(parse_ok("2026-11-24T10:00:00.5Z"), NOW + SEC / 2);
        assert_int_equal(parse_ok("2026-11-24T10:00:00.123456789Z"), NOW + 123456);
        assert_int_equal(parse_ok("2023-11-14T22:13:20Z"), INT64_C(1700000000) * SEC);
        assert_int_equal(parse_ok("2024-02-29T23:59:59Z"), INT64_C(1709251199) * SEC);
        /* An offset says which UTC time is meant: 11:00 at +01:00 is 10:00Z. */
        assert_int_equal(parse_ok("2026-11-24T11:00:00+01:00"), NOW);
        assert_int_equal(parse_ok("2026-11-24T09:00-0100"), NOW);
}

static void unix_seconds_follow_an_at_sign(void **state) {
        assert_int_equal(parse_ok("@1795514400"), NOW);
        assert_int_equal(parse_ok("@0"), 0);
        assert_int_equal(parse_ok("@1.25"), SEC + SEC / 4);
}

static void garbage_is_refused_naming_the_option_the_text_and_the_forms(void **state) {
        const char *const garbage[] = {
                "garbage", "yesterday", "24h", "-24", "-h", "-1.5h", "@", "@-5", "@12x", "2026-11-24T",
                "2026-11-24 10:00Z", "2026-11-24T10Z", "2026-11-24T10:00:00Zjunk", "2026-11-24T10:00:60Z",
                "2026-11-24T24:00Z", "2026-13-01", "2026-02-29", "2026-11-31", "26-11-24", "2026-11-24T10:00+25:00",
                " -24h", "-24h ",
        };

        for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
                assert_refused(garbage[i], -EINVAL, "ISO 8601");
        /* Every form accepted is named. */
        assert_refused("garbage", -EINVAL, "2026-11-24T10:00:00Z");
        assert_refused("garbage", -EINVAL, "@UNIX-SECONDS");
        assert_refused("garbage", -EINVAL, "-24h");
        assert_refused("-3y", -EINVAL, "unit");
}

static void a_time_without_a_zone_is_refused_rather_than_guessed(void **state) {
        assert_refused("2026-11-24T10:00", -EINVAL, "add Z for UTC");
        assert_refused("2026-11-24T10:00:00", -EINVAL, "no time zone");
}

static void times_before_1970_or_past_9999_are_out_of_range(void **state) {
        assert_refused("1969-12-31", -ERANGE, "before 1970");
        assert_refused("1970-01-01T00:30+01:00", -ERANGE, "before 1970");
        assert_refused("-100000w", -ERANGE, "before 1970");
        assert_refused("-999999999999999999d", -ERANGE, "before 1970");
        assert_refused("@999999999999", -ERANGE, "9999");
        assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799) * SEC);
}

/* ---- volumes ---- */

static void assert_ml(int64_t nl, const char *expected) {
        char buf[HISTORY_ML_MAX];

        assert_int_equal(history_format_ml(buf, sizeof buf, nl), 0);
        assert_string_equal(buf, expected);
}

static void nanolitres_print_as_exact_millilitres(void **state) {
        assert_ml(1, "0.000001");
        assert_ml(0, "0");
        assert_ml(1500000, "1.5");
        assert_ml(20000000, "20");
        assert_ml(3333249, "3.333249");
        assert_ml(999999, "0.999999");
        assert_ml(100000, "0.1");
        assert_ml(-250000, "-0.25");
        assert_ml(-1, "-0.000001");
        assert_ml(INT64_MAX, "9223372036854.775807");
        assert_ml(INT64_MIN, "-9223372036854.775808");
}

/* ---- UTC text ---- */

static void assert_utc(int64_t usec, const char *expected) {
        char buf[HISTORY_TIME_MAX];

        assert_int_equal(history_format_utc(buf, sizeof buf, usec), 0);
        assert_string_equal(buf, expected);
}

static void utc_text_is_cut_to_the_millisecond_never_rounded_up(void **state) {
        assert_utc(INT64_C(1700000000123456), "2023-11-14T22:13:20.123Z");
        assert_utc(INT64_C(1700000000999999), "2023-11-14T22:13:20.999Z");
        assert_utc(0, "1970-01-01T00:00:00.000Z");
        assert_utc(-1, "1969-12-31T23:59:59.999Z");
        assert_utc(INT64_C(1709251199) * SEC, "2024-02-29T23:59:59.000Z");
}

static void utc_text_reads_back_as_the_same_millisecond(void **state) {
        for (int64_t usec = 0; usec < INT64_C(253402300799) * SEC; usec += INT64_C(987654321987)) {
                char buf[HISTORY_TIME_MAX];

                assert_int_equal(history_format_utc(buf, sizeof buf, usec), 0);
                assert_int_equal(parse_ok(buf), usec / 1000 * 1000);
        }
}

/* ---- rows as JSON ---- */

static void row_set(struct json_object *row, const char *key, char type, HistoryValue v) {
        assert_int_equal(history_row_set(row, key, type, &v), 0);
}

static void rows_keep_the_dbus_keys_and_each_utc_us_gets_its_utc_text(void **state) {
        struct json_object *row = json_object_new_object();

        row_set(row, "id", 'x', (HistoryValue) { .i = 7 });
        row_set(row, "channel", 'u', (HistoryValue) { .u = 1 });
        row_set(row, "started_utc_us", 'x', (HistoryValue) { .i = INT64_C(1700000000123999) });
        row_set(row, "started_mono_us", 'x', (HistoryValue) { .i = 5 });
        row_set(row, "dose_rate", 'd', (HistoryValue) { .d = 0.1 });
        row_set(row, "drug_name", 's', (HistoryValue) { .s = "Heparin \"HD\"/x" });
        row_set(row, "big", 't', (HistoryValue) { .u = UINT64_MAX });
        row_set(row, "flag", 'b', (HistoryValue) { .b = true });
        /* A key this infusionctl does not know passes through, its text too. */
        row_set(row, "paused_utc_us", 't', (HistoryValue) { .u = 0 });

        assert_string_equal(json_object_to_json_string_ext(row, JSON_C_TO_STRING_PLAIN |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE),
                            "{\"id\":7,\"channel\":1,\"started_utc_us\":1700000000123999,"
                            "\"started_utc\":\"2023-11-14T22:13:20.123Z\",\"started_mono_us\":5,"
                            "\"dose_rate\":0.1,\"drug_name\":\"Heparin \\\"HD\\\"/x\","
                            "\"big\":18446744073709551615,\"flag\":true,"
                            "\"paused_utc_us\":0,\"paused_utc\":\"1970-01-01T00:00:00.000Z\"}");
        /* Integers are JSON integers, doubles are doubles. */
        struct json_object *v;
        assert_true(json_object_object_get_ex(row, "started_utc_us", &v));
        assert_true(json_object_is_type(v, json_type_int));
        assert_true(json_object_object_get_ex(row, "dose_rate", &v));
        assert_true(json_object_is_type(v, json_type_double));
        assert_int_equal(history_row_set(row, "x", 'a', &(HistoryValue) {}), -EINVAL);
        json_object_put(row);
}

static struct json_object *sample_rows(void) {
        struct json_object *rows = json_object_new_array(), *a = json_object_new_object(),
                           *b = json_object_new_object();

        row_set(a, "id", 'x', (HistoryValue) { .i = 1 });
        row_set(a, "channel", 'u', (HistoryValue) { .u = 0 });
        row_set(a, "status", 's', (HistoryValue) { .s = "completed" });
        row_set(a, "rate_nl_per_h", 'x', (HistoryValue) { .i = 20000000 });
        row_set(a, "vtbi_nl", 'x', (HistoryValue) { .i = 50000000 });
        row_set(a, "volume_nl", 'x', (HistoryValue) { .i = 1 });
        row_set(a, "started_utc_us", 'x', (HistoryValue) { .i = INT64_C(1700000000123456) });
        row_set(a, "ended_utc_us", 'x', (HistoryValue) { .i = INT64_C(1700003600000000) });
        row_set(a, "drug_id", 's', (HistoryValue) { .s = "heparin" });
        row_set(a, "drug_name", 's', (HistoryValue) { .s = "Heparin, \"high\"" });
        row_set(a, "dose_rate", 'd', (HistoryValue) { .d = 1000 });

        row_set(b, "id", 'x', (HistoryValue) { .i = 12 });
        row_set(b, "channel", 'u', (HistoryValue) { .u = 1 });
        row_set(b, "status", 's', (HistoryValue) { .s = "active" });
        row_set(b, "rate_nl_per_h", 'x', (HistoryValue) { .i = 100000000 });
        row_set(b, "vtbi_nl", 'x', (HistoryValue) { .i = 10000000 });
        row_set(b, "volume_nl", 'x', (HistoryValue) { .i = 1666624 });
        row_set(b, "started_utc_us", 'x', (HistoryValue) { .i = INT64_C(1700007200000000) });
        row_set(b, "new_key", 's', (HistoryValue) { .s = "a\nb" });

        json_object_array_add(rows, a);
        json_object_array_add(rows, b);
        return rows;
}

static char *capture(int (*writer)(FILE *, struct json_object *), struct json_object *rows) {
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        assert_non_null(f);
        assert_int_equal(writer(f, rows), 0);
        assert_int_equal(fclose(f), 0);
        return text;
}

static void json_output_is_one_array_with_a_row_per_line(void **state) {
        struct json_object *rows = sample_rows(), *parsed;
        char *text = capture(history_write_json, rows);

        assert_non_null(strstr(text, "[\n  {\"id\":1,"));
        assert_non_null(strstr(text, "\"started_utc\":\"2023-11-14T22:13:20.123Z\""));
        parsed = json_tokener_parse(text);
        assert_true(json_object_is_type(parsed, json_type_array));
        assert_int_equal(json_object_array_length(parsed), 2);
        json_object_put(parsed);
        free(text);

        json_object_put(rows);
        rows = json_object_new_array();
        text = capture(history_write_json, rows);
        assert_string_equal(text, "[]\n");
        free(text);
        json_object_put(rows);
}

/* ---- CSV ---- */

static void csv_quotes_a_drug_name_with_a_comma_and_a_quote(void **state) {
        char *s;

        s = history_csv_field("Heparin, \"high\"");
        assert_string_equal(s, "\"Heparin, \"\"high\"\"\"");
        free(s);
        s = history_csv_field("line\r\nbreak");
        assert_string_equal(s, "\"line\r\nbreak\"");
        free(s);
        s = history_csv_field("25000 units / 500 mL");
        assert_string_equal(s, "25000 units / 500 mL");
        free(s);
        s = history_csv_field(NULL);
        assert_string_equal(s, "");
        free(s);
}

static void csv_has_the_api_columns_in_order_and_passes_new_keys_through(void **state) {
        struct json_object *rows = sample_rows();
        char *text = capture(history_write_csv, rows);

        assert_string_equal(text,
                "id,channel,mode,status,rate_nl_per_h,vtbi_nl,kvo_rate_nl_per_h,volume_nl,started_utc_us,"
                "started_utc,started_mono_us,ended_utc_us,ended_utc,checkpoint_utc_us,checkpoint_utc,care_area,"
                "drug_id,drug_name,dose_rate,dose_unit,concentration,library_sha256,new_key\r\n"
                "1,0,,completed,20000000,50000000,,1,1700000000123456,2023-11-14T22:13:20.123Z,,"
                "1700003600000000,2023-11-14T23:13:20.000Z,,,,heparin,\"Heparin, \"\"high\"\"\",1000,,,,\r\n"
                "12,1,,active,100000000,10000000,,1666624,1700007200000000,2023-11-15T00:13:20.000Z,,,,,,,"
                ",,,,,,\"a\nb\"\r\n");
        free(text);
        json_object_put(rows);
}

/* ---- table ---- */

static void table_shows_exact_millilitres_local_times_and_basic_for_no_drug(void **state) {
        struct json_object *rows = sample_rows();
        char *text;

        setenv("TZ", "UTC", 1);
        tzset();
        text = capture(history_write_table, rows);
        assert_string_equal(text,
                "ID  CH  STATUS     STARTED              ENDED                DRUG             RATE mL/h  VTBI mL  VOLUME mL\n"
                " 1   0  completed  2023-11-14 22:13:20  2023-11-14 23:13:20  Heparin, \"high\"         20       50   0.000001\n"
                "12   1  active     2023-11-15 00:13:20  -                    basic                  100       10   1.666624\n");
        free(text);

        /* The wall clock of the ward, not UTC. */
        setenv("TZ", "CET-1", 1);
        tzset();
        text = capture(history_write_table, rows);
        assert_non_null(strstr(text, "2023-11-14 23:13:20  2023-11-15 00:13:20"));
        free(text);
        json_object_put(rows);

        rows = json_object_new_array();
        text = capture(history_write_table, rows);
        assert_string_equal(text, "No infusions in this range.\n");
        free(text);
        json_object_put(rows);
}

/* ---- FHIR ---- */

#define DEVICE "{\"fullUrl\":\"urn:uuid:dev\",\"resource\":{\"resourceType\":\"Device\",\"id\":\"X\"}}"
#define MA(n) "{\"fullUrl\":\"urn:uuid:ma" #n "\",\"resource\":{\"resourceType\":\"MedicationAdministration\"," \
        "\"id\":\"infusion-" #n "\",\"dosage\":{\"rateQuantity\":{\"value\":0.1}}}}"
#define BUNDLE(entries) "{\"resourceType\":\"Bundle\",\"type\":\"collection\",\"entry\":[" entries "]}"

static void fhir_merge_keeps_one_device_and_every_medication_administration(void **state) {
        struct json_object *bundle = json_tokener_parse(BUNDLE(DEVICE "," MA(1) "," MA(2)));
        struct json_object *page2 = json_tokener_parse(BUNDLE(DEVICE "," MA(3)));
        struct json_object *page3 = json_tokener_parse(BUNDLE(DEVICE));
        struct json_object *page4 = json_tokener_parse(BUNDLE(DEVICE "," MA(4) "," MA(5)));

        assert_int_equal(history_fhir_merge(bundle, page2), 1);
        assert_int_equal(history_fhir_merge(bundle, page3), 0);
        assert_int_equal(history_fhir_merge(bundle, page4), 2);
        /* The pages may go: the bundle holds its own references. */
        json_object_put(page2);
        json_object_put(page3);
        json_object_put(page4);

        assert_string_equal(json_object_to_json_string_ext(bundle, JSON_C_TO_STRING_PLAIN),
                            BUNDLE(DEVICE "," MA(1) "," MA(2) "," MA(3) "," MA(4) "," MA(5)));
        json_object_put(bundle);
}

static void fhir_merge_refuses_what_is_not_a_bundle(void **state) {
        struct json_object *bundle = json_tokener_parse("{\"resourceType\":\"Bundle\"}");
        struct json_object *page = json_tokener_parse(BUNDLE(DEVICE "," MA(1)));
        struct json_object *other = json_tokener_parse("{\"resourceType\":\"Patient\"}");
        struct json_object *bad = json_tokener_parse("{\"resourceType\":\"Bundle\",\"entry\":[1]}");

        /* A first page without entries gets them. */
        assert_int_equal(history_fhir_merge(bundle, page), 2);
        assert_int_equal(history_fhir_merge(bundle, other), -EINVAL);
        assert_int_equal(history_fhir_merge(other, page), -EINVAL);
        assert_int_equal(history_fhir_merge(bundle, bad), -EINVAL);
        json_object_put(bundle);
        json_object_put(page);
        json_object_put(other);
        json_object_put(bad);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(relative_times_count_back_from_now),
                cmocka_unit_test(a_date_alone_is_midnight_utc),
                cmocka_unit_test(iso_times_are_utc_with_or_without_seconds),
                cmocka_unit_test(unix_seconds_follow_an_at_sign),
                cmocka_unit_test(garbage_is_refused_naming_the_option_the_text_and_the_forms),
                cmocka_unit_test(a_time_without_a_zone_is_refused_rather_than_guessed),
                cmocka_unit_test(times_before_1970_or_past_9999_are_out_of_range),
                cmocka_unit_test(nanolitres_print_as_exact_millilitres),
                cmocka_unit_test(utc_text_is_cut_to_the_millisecond_never_rounded_up),
                cmocka_unit_test(utc_text_reads_back_as_the_same_millisecond),
                cmocka_unit_test(rows_keep_the_dbus_keys_and_each_utc_us_gets_its_utc_text),
                cmocka_unit_test(json_output_is_one_array_with_a_row_per_line),
                cmocka_unit_test(csv_quotes_a_drug_name_with_a_comma_and_a_quote),
                cmocka_unit_test(csv_has_the_api_columns_in_order_and_passes_new_keys_through),
                cmocka_unit_test(table_shows_exact_millilitres_local_times_and_basic_for_no_drug),
                cmocka_unit_test(fhir_merge_keeps_one_device_and_every_medication_administration),
                cmocka_unit_test(fhir_merge_refuses_what_is_not_a_bundle),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
