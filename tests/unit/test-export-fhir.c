/* SPDX-License-Identifier: MIT */
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
#include <cmocka.h>

#include "db/export.h"

#define EUI64 "001A010000000001"
/* 2023-11-14T22:13:20.123999Z: the .999 must be cut, not rounded up. */
#define T0 INT64_C(1700000000123999)
#define T0_TEXT "2023-11-14T22:13:20.123Z"
#define HOUR INT64_C(3600000000)
#define SHA "5f2b8c0d9e1a4b3c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c"

static const struct export_source SOURCE = { .device_eui64 = EUI64, .software_version = "0.1.0" };

static struct db_infusion row(int64_t id, const char *status) {
        return (struct db_infusion) {
                .id = id,
                .channel = 1,
                .mode = "continuous",
                .rate_nl_per_h = 25000000,
                .vtbi_nl = 100000000,
                .kvo_rate_nl_per_h = 1000000,
                .volume_nl = 50000000,
                .started_utc_us = T0,
                .ended_utc_us = strcmp(status, "active") == 0 ? 0 : T0 + 2 * HOUR,
                .status = status,
                .dose_rate = NAN,
        };
}

static struct export_fhir *new_export(void) {
        struct export_fhir *x = NULL;

        assert_int_equal(export_fhir_new(&SOURCE, T0, &x), 0);
        assert_non_null(x);
        return x;
}

static struct json_object *parse(struct export_fhir *x) {
        const char *text = export_fhir_json(x);
        struct json_object *o;

        assert_non_null(text);
        o = json_tokener_parse(text);
        assert_non_null(o);
        return o;
}

/* The element at a path like "entry[1].resource.dosage.text"; NULL when
 * there is none. */
static struct json_object *at(struct json_object *o, const char *path) {
        const char *p = path;

        while (o && *p) {
                if (*p == '.')
                        p++;
                if (*p == '[') {
                        char *end;
                        size_t i = strtoul(p + 1, &end, 10);

                        assert_true(*end == ']');
                        if (!json_object_is_type(o, json_type_array) || i >= json_object_array_length(o))
                                return NULL;
                        o = json_object_array_get_idx(o, i);
                        p = end + 1;
                } else {
                        size_t n = strcspn(p, ".[");
                        char key[64];

                        assert_true(n < sizeof key);
                        memcpy(key, p, n);
                        key[n] = '\0';
                        if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &o))
                                return NULL;
                        p += n;
                }
        }
        return o;
}

static struct json_object *at_type(struct json_object *o, const char *path, enum json_type type) {
        struct json_object *v = at(o, path);

        if (!v)
                fail_msg("%s is missing", path);
        if (!json_object_is_type(v, type))
                fail_msg("%s is a %s, not a %s", path, json_type_to_name(json_object_get_type(v)),
                         json_type_to_name(type));
        return v;
}

/* JSON has one kind of number; json-c reads "50" as an int. */
static double number_at(struct json_object *o, const char *path) {
        struct json_object *v = at(o, path);

        if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
                fail_msg("%s is not a number", path);
        return json_object_get_double(v);
}

static const char *str_at(struct json_object *o, const char *path) {
        return json_object_get_string(at_type(o, path, json_type_string));
}

/* The extension with that url, among those of o. */
static struct json_object *extension(struct json_object *o, const char *url) {
        struct json_object *a = at(o, "extension");

        for (size_t i = 0; a && i < json_object_array_length(a); i++) {
                struct json_object *e = json_object_array_get_idx(a, i);
                if (strcmp(str_at(e, "url"), url) == 0)
                        return e;
        }
        return NULL;
}

/* The text without the whitespace between tokens, to compare the numbers
 * exactly as written. */
static char *compact(const char *text) {
        char *s = malloc(strlen(text) + 1), *w = s;
        bool in_string = false;

        assert_non_null(s);
        for (const char *p = text; *p; p++) {
                if (in_string) {
                        *w++ = *p;
                        if (*p == '\\')
                                *w++ = *++p;
                        else if (*p == '"')
                                in_string = false;
                } else if (!strchr(" \t\r\n", *p)) {
                        *w++ = *p;
                        in_string = *p == '"';
                }
        }
        *w = '\0';
        return s;
}

static void assert_contains(const char *haystack, const char *needle) {
        if (!strstr(haystack, needle))
                fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

static void test_bundle_is_a_collection_stamped_in_utc_with_the_pump_first(void **state) {
        struct export_fhir *x = new_export();
        struct json_object *b = parse(x);

        assert_string_equal(str_at(b, "resourceType"), "Bundle");
        assert_string_equal(str_at(b, "type"), "collection");
        assert_string_equal(str_at(b, "timestamp"), T0_TEXT);
        assert_non_null(at_type(b, "identifier.system", json_type_string));
        assert_non_null(at_type(b, "identifier.value", json_type_string));
        assert_int_equal(json_object_array_length(at_type(b, "entry", json_type_array)), 1);

        assert_string_equal(str_at(b, "entry[0].resource.resourceType"), "Device");
        assert_string_equal(str_at(b, "entry[0].resource.id"), EUI64);
        assert_string_equal(str_at(b, "entry[0].resource.identifier[0].system"),
                            "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680");
        assert_string_equal(str_at(b, "entry[0].resource.identifier[0].value"), "00-1A-01-00-00-00-00-01");
        assert_string_equal(str_at(b, "entry[0].resource.type.text"), "infusion pump");
        assert_string_equal(str_at(b, "entry[0].resource.type.coding[0].code"), "69985");
        assert_string_equal(str_at(b, "entry[0].resource.version[0].value"), "0.1.0");
        assert_true(strncmp(str_at(b, "entry[0].fullUrl"), "urn:uuid:", 9) == 0);

        json_object_put(b);
        export_fhir_free(x);
}

static void test_times_are_cut_to_the_millisecond_and_never_rounded_up(void **state) {
        static const struct {
                int64_t us;
                const char *text;
        } cases[] = {
                { 0, "1970-01-01T00:00:00.000Z" },
                { 999, "1970-01-01T00:00:00.000Z" },
                { 999999, "1970-01-01T00:00:00.999Z" },
                { -1, "1969-12-31T23:59:59.999Z" },
                { INT64_C(253402300799999999), "9999-12-31T23:59:59.999Z" },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct export_fhir *x = NULL;

                assert_int_equal(export_fhir_new(&SOURCE, cases[i].us, &x), 0);
                struct json_object *b = parse(x);
                assert_string_equal(str_at(b, "timestamp"), cases[i].text);
                json_object_put(b);
                export_fhir_free(x);
        }
}

static void test_each_infusion_has_every_required_r4_element(void **state) {
        static const char *const value_set[] = { "in-progress", "not-done",         "on-hold", "completed",
                                                 "entered-in-error", "stopped", "unknown" };
        struct export_fhir *x = new_export();
        struct db_infusion inf = row(7, "completed");
        bool in_set = false;

        assert_int_equal(export_fhir_add(x, &inf), 0);
        struct json_object *b = parse(x);
        assert_int_equal(json_object_array_length(at(b, "entry")), 2);
        struct json_object *ma = at_type(b, "entry[1].resource", json_type_object);
        assert_true(strncmp(str_at(b, "entry[1].fullUrl"), "urn:uuid:", 9) == 0);

        assert_string_equal(str_at(ma, "resourceType"), "MedicationAdministration");
        assert_string_equal(str_at(ma, "id"), "infusion-7");
        assert_string_equal(str_at(ma, "identifier[0].system"), "urn:infusiond:" EUI64 ":infusion");
        assert_string_equal(str_at(ma, "identifier[0].value"), "7");
        /* status 1..1, in its required value set */
        for (size_t i = 0; i < sizeof value_set / sizeof value_set[0]; i++)
                in_set = in_set || strcmp(str_at(ma, "status"), value_set[i]) == 0;
        assert_true(in_set);
        /* medication[x] 1..1 */
        at_type(ma, "medicationCodeableConcept", json_type_object);
        assert_null(at(ma, "medicationReference"));
        /* subject 1..1: a Reference that says the patient is not known */
        assert_string_equal(str_at(ma, "subject.display"), "patient not known to the pump");
        assert_null(at(ma, "subject.reference"));
        /* effective[x] 1..1 */
        assert_string_equal(str_at(ma, "effectivePeriod.start"), T0_TEXT);
        assert_string_equal(str_at(ma, "effectivePeriod.end"), "2023-11-15T00:13:20.123Z");
        assert_null(at(ma, "effectiveDateTime"));
        /* the pump, by the Device entry's fullUrl */
        assert_string_equal(str_at(ma, "device[0].reference"), str_at(b, "entry[0].fullUrl"));
        /* dosage 0..1, an object */
        at_type(ma, "dosage", json_type_object);
        assert_string_equal(str_at(ma, "dosage.rateQuantity.system"), "http://unitsofmeasure.org");
        assert_string_equal(str_at(ma, "dosage.rateQuantity.code"), "mL/h");
        assert_string_equal(str_at(ma, "dosage.rateQuantity.unit"), "mL/h");
        assert_string_equal(str_at(ma, "dosage.dose.system"), "http://unitsofmeasure.org");
        assert_string_equal(str_at(ma, "dosage.dose.code"), "mL");
        assert_string_equal(str_at(ma, "dosage.dose.unit"), "mL");
        assert_true(number_at(ma, "dosage.dose.value") == 50.0);
        const char *text = str_at(ma, "dosage.text");
        assert_contains(text, "continuous");
        assert_contains(text, "channel 1");
        assert_contains(text, "25 mL/h");
        assert_contains(text, "VTBI 100 mL");
        assert_null(strstr(text, "dose rate"));

        json_object_put(b);
        export_fhir_free(x);
}

static void test_statuses_map_onto_the_r4_value_set(void **state) {
        static const struct {
                const char *ours, *fhir;
        } map[] = {
                { "active", "in-progress" },
                { "completed", "completed" },
                { "stopped", "stopped" },
                { "interrupted", "stopped" },
        };
        struct export_fhir *x = new_export();

        for (size_t i = 0; i < 4; i++) {
                struct db_infusion inf = row((int64_t) i + 1, map[i].ours);
                assert_int_equal(export_fhir_add(x, &inf), 0);
        }
        struct json_object *b = parse(x);
        assert_int_equal(json_object_array_length(at(b, "entry")), 5);
        for (size_t i = 0; i < 4; i++) {
                char path[32];

                snprintf(path, sizeof path, "entry[%zu].resource", i + 1);
                struct json_object *ma = at(b, path);
                assert_string_equal(str_at(ma, "status"), map[i].fhir);
                assert_string_equal(str_at(ma, "effectivePeriod.start"), T0_TEXT);
                if (strcmp(map[i].ours, "active") == 0)
                        /* still running: an open period */
                        assert_null(at(ma, "effectivePeriod.end"));
                else
                        assert_string_equal(str_at(ma, "effectivePeriod.end"), "2023-11-15T00:13:20.123Z");
                if (strcmp(map[i].ours, "interrupted") == 0)
                        assert_contains(str_at(ma, "statusReason[0].text"), "restarted");
                else
                        assert_null(at(ma, "statusReason"));
        }

        json_object_put(b);
        export_fhir_free(x);
}

static void test_quantities_are_the_exact_decimals_of_the_nanolitres(void **state) {
        struct export_fhir *x = new_export();
        struct db_infusion a = row(1, "completed"), big = row(2, "completed");
        char *text;

        a.rate_nl_per_h = 1;
        a.volume_nl = INT64_C(1234567891);
        a.vtbi_nl = INT64_C(25000000);
        big.rate_nl_per_h = 0;
        big.volume_nl = INT64_MAX;
        big.vtbi_nl = INT64_C(100);
        assert_int_equal(export_fhir_add(x, &a), 0);
        assert_int_equal(export_fhir_add(x, &big), 0);
        text = compact(export_fhir_json(x));

        assert_contains(text, "\"dose\":{\"value\":1234.567891,\"unit\":\"mL\","
                              "\"system\":\"http://unitsofmeasure.org\",\"code\":\"mL\"}");
        assert_contains(text, "\"rateQuantity\":{\"value\":0.000001,\"unit\":\"mL/h\","
                              "\"system\":\"http://unitsofmeasure.org\",\"code\":\"mL/h\"}");
        assert_contains(text, "\"valueQuantity\":{\"value\":25,\"unit\":\"mL\"");
        assert_contains(text, "\"dose\":{\"value\":9223372036854.775807,");
        assert_contains(text, "\"rateQuantity\":{\"value\":0,");
        assert_contains(text, "\"valueQuantity\":{\"value\":0.0001,");
        free(text);

        /* and they still read back as numbers */
        struct json_object *b = parse(x);
        assert_true(number_at(b, "entry[1].resource.dosage.rateQuantity.value") == 1e-6);
        assert_true(number_at(b, "entry[1].resource.dosage.dose.value") == 1234.567891);
        json_object_put(b);
        export_fhir_free(x);
}

static void test_drug_coding_appears_only_with_a_drug_id(void **state) {
        struct export_fhir *x = new_export();
        struct db_infusion drug = row(1, "completed"), basic = row(2, "completed");

        drug.drug_id = "heparin";
        drug.drug_name = "Heparin";
        drug.dose_rate = 1000;
        drug.dose_unit = "units/h";
        drug.concentration = "25000 units / 500 mL";
        drug.library_sha256 = SHA;
        drug.care_area = "ICU";
        assert_int_equal(export_fhir_add(x, &drug), 0);
        assert_int_equal(export_fhir_add(x, &basic), 0);
        struct json_object *b = parse(x);

        struct json_object *m = at(b, "entry[1].resource");
        assert_string_equal(str_at(m, "medicationCodeableConcept.text"), "Heparin");
        assert_int_equal(json_object_array_length(at(m, "medicationCodeableConcept.coding")), 1);
        assert_string_equal(str_at(m, "medicationCodeableConcept.coding[0].system"),
                            "urn:infusiond:drug-library:" SHA);
        assert_string_equal(str_at(m, "medicationCodeableConcept.coding[0].code"), "heparin");
        assert_contains(str_at(m, "dosage.text"), "dose rate 1000 units/h");
        assert_contains(str_at(m, "dosage.text"), "25000 units / 500 mL");
        struct json_object *dose = extension(m, "urn:infusiond:fhir:dose-rate");
        assert_non_null(dose);
        assert_string_equal(str_at(dose, "valueQuantity.unit"), "units/h");
        assert_true(number_at(dose, "valueQuantity.value") == 1000);

        m = at(b, "entry[2].resource");
        assert_string_equal(str_at(m, "medicationCodeableConcept.text"), "basic infusion (no drug library entry)");
        assert_null(at(m, "medicationCodeableConcept.coding"));
        assert_null(strstr(str_at(m, "dosage.text"), "dose rate"));
        assert_null(extension(m, "urn:infusiond:fhir:dose-rate"));

        json_object_put(b);
        export_fhir_free(x);
}

static void test_extensions_carry_vtbi_channel_care_area_and_library(void **state) {
        struct export_fhir *x = new_export();
        struct db_infusion inf = row(3, "stopped"), bare = row(4, "stopped");
        struct json_object *e;

        inf.channel = 2;
        inf.vtbi_nl = INT64_C(12500000);
        inf.care_area = "Med-Surg";
        inf.library_sha256 = SHA;
        inf.drug_id = "insulin";
        inf.drug_name = "Insulin";
        assert_int_equal(export_fhir_add(x, &inf), 0);
        assert_int_equal(export_fhir_add(x, &bare), 0);
        struct json_object *b = parse(x), *ma = at(b, "entry[1].resource");

        e = extension(ma, "urn:infusiond:fhir:vtbi");
        assert_non_null(e);
        assert_true(number_at(e, "valueQuantity.value") == 12.5);
        assert_string_equal(str_at(e, "valueQuantity.code"), "mL");
        assert_string_equal(str_at(e, "valueQuantity.system"), "http://unitsofmeasure.org");
        e = extension(ma, "urn:infusiond:fhir:channel");
        assert_non_null(e);
        assert_int_equal(json_object_get_int(at_type(e, "valueInteger", json_type_int)), 2);
        e = extension(ma, "urn:infusiond:fhir:care-area");
        assert_non_null(e);
        assert_string_equal(str_at(e, "valueString"), "Med-Surg");
        e = extension(ma, "urn:infusiond:fhir:drug-library-sha256");
        assert_non_null(e);
        assert_string_equal(str_at(e, "valueString"), SHA);
        /* no dose rate was given (NAN): no dose-rate extension */
        assert_null(extension(ma, "urn:infusiond:fhir:dose-rate"));

        /* what is not known is left out, not written empty */
        ma = at(b, "entry[2].resource");
        assert_non_null(extension(ma, "urn:infusiond:fhir:vtbi"));
        assert_non_null(extension(ma, "urn:infusiond:fhir:channel"));
        assert_null(extension(ma, "urn:infusiond:fhir:care-area"));
        assert_null(extension(ma, "urn:infusiond:fhir:drug-library-sha256"));

        json_object_put(b);
        export_fhir_free(x);
}

static void test_strings_are_copied_and_round_trip(void **state) {
        /* UTF-8, quotes, a backslash, a newline, a slash and a control
         * character */
        static const char name[] = "Nor\xc3\xa9pin\xc3\xa9phrine \"4 mg\" \\ 50 mL\nline 2 "
                                   "\xe6\x97\xa5\xe6\x9c\xac/\x01";
        struct export_fhir *x = NULL;
        struct export_source src = { .device_eui64 = strdup("001a010000000001"),
                                     .software_version = strdup("1.2/\"rc\"") };
        struct db_infusion inf = row(9, "completed");

        assert_int_equal(export_fhir_new(&src, T0, &x), 0);
        free((char *) src.device_eui64);
        free((char *) src.software_version);

        inf.mode = strdup("continuous");
        inf.status = strdup("completed");
        inf.drug_id = strdup("nor\"epi");
        inf.drug_name = strdup(name);
        inf.dose_unit = strdup("mcg/kg/min");
        inf.dose_rate = 0.1;
        inf.care_area = strdup("ICU \\ 2");
        inf.library_sha256 = strdup(SHA);
        inf.concentration = strdup("4 mg / 50 mL");
        assert_int_equal(export_fhir_add(x, &inf), 0);
        /* Overwrite before freeing, so that a kept pointer shows even where
         * the allocator would leave the bytes in place. */
        char **strings[] = { (char **) &inf.mode,          (char **) &inf.status,     (char **) &inf.drug_id,
                             (char **) &inf.drug_name,     (char **) &inf.dose_unit,  (char **) &inf.care_area,
                             (char **) &inf.library_sha256, (char **) &inf.concentration };
        for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
                memset(*strings[i], 'X', strlen(*strings[i]));
                free(*strings[i]);
        }

        const char *text = export_fhir_json(x);
        assert_null(strstr(text, "\\/"));  /* no escaped slashes */
        struct json_object *b = parse(x), *ma = at(b, "entry[1].resource");
        assert_string_equal(str_at(b, "entry[0].resource.id"), "001A010000000001");
        assert_string_equal(str_at(b, "entry[0].resource.version[0].value"), "1.2/\"rc\"");
        assert_string_equal(str_at(ma, "medicationCodeableConcept.text"), name);
        assert_string_equal(str_at(ma, "medicationCodeableConcept.coding[0].code"), "nor\"epi");
        assert_string_equal(str_at(ma, "medicationCodeableConcept.coding[0].display"), name);
        assert_string_equal(str_at(extension(ma, "urn:infusiond:fhir:care-area"), "valueString"), "ICU \\ 2");
        assert_string_equal(str_at(extension(ma, "urn:infusiond:fhir:concentration"), "valueString"), "4 mg / 50 mL");
        assert_string_equal(str_at(extension(ma, "urn:infusiond:fhir:dose-rate"), "valueQuantity.unit"), "mcg/kg/min");
        assert_contains(str_at(ma, "dosage.text"), "continuous infusion");
        assert_contains(str_at(ma, "dosage.text"), "dose rate 0.1 mcg/kg/min");
        assert_string_equal(str_at(ma, "status"), "completed");

        json_object_put(b);
        export_fhir_free(x);
}

static void test_full_urls_are_unique_stable_and_referenced(void **state) {
        struct export_fhir *x = new_export(), *again = NULL, *other = NULL;
        struct export_source other_pump = { .device_eui64 = "001A010000000002", .software_version = "0.1.0" };
        struct db_infusion one = row(1, "completed"), two = row(2, "active");

        assert_int_equal(export_fhir_add(x, &one), 0);
        assert_int_equal(export_fhir_add(x, &two), 0);
        assert_int_equal(export_fhir_new(&SOURCE, T0 + HOUR, &again), 0);
        assert_int_equal(export_fhir_add(again, &two), 0);
        assert_int_equal(export_fhir_new(&other_pump, T0, &other), 0);
        assert_int_equal(export_fhir_add(other, &two), 0);
        struct json_object *b = parse(x), *b2 = parse(again), *b3 = parse(other);

        const char *dev = str_at(b, "entry[0].fullUrl"), *u1 = str_at(b, "entry[1].fullUrl"),
                   *u2 = str_at(b, "entry[2].fullUrl");
        const char *urls[] = { dev, u1, u2 };
        for (size_t i = 0; i < 3; i++) {
                /* urn:uuid: and 8-4-4-4-12 lower-case hex, version 8, variant 10 */
                const char *u = urls[i];
                assert_int_equal(strlen(u), 9 + 36);
                assert_true(strncmp(u, "urn:uuid:", 9) == 0);
                for (size_t k = 9; k < 45; k++)
                        if (k == 17 || k == 22 || k == 27 || k == 32)
                                assert_int_equal(u[k], '-');
                        else
                                assert_non_null(strchr("0123456789abcdef", u[k]));
                assert_int_equal(u[23], '8');
                assert_non_null(strchr("89ab", u[28]));
        }
        assert_string_not_equal(dev, u1);
        assert_string_not_equal(dev, u2);
        assert_string_not_equal(u1, u2);
        assert_string_equal(str_at(b, "entry[1].resource.device[0].reference"), dev);
        assert_string_equal(str_at(b, "entry[2].resource.device[0].reference"), dev);
        /* the same infusion of the same pump: the same fullUrl in a later export */
        assert_string_equal(str_at(b2, "entry[0].fullUrl"), dev);
        assert_string_equal(str_at(b2, "entry[1].fullUrl"), u2);
        /* another pump's infusion 2 is another resource */
        assert_string_not_equal(str_at(b3, "entry[0].fullUrl"), dev);
        assert_string_not_equal(str_at(b3, "entry[1].fullUrl"), u2);

        json_object_put(b);
        json_object_put(b2);
        json_object_put(b3);
        export_fhir_free(x);
        export_fhir_free(again);
        export_fhir_free(other);
}

static void test_bad_arguments_are_einval_and_leave_the_bundle_as_it_was(void **state) {
        struct export_fhir *x = NULL;
        struct export_source bad = SOURCE;

        assert_int_equal(export_fhir_new(NULL, T0, &x), -EINVAL);
        assert_int_equal(export_fhir_new(&SOURCE, T0, NULL), -EINVAL);
        bad.device_eui64 = NULL;
        assert_int_equal(export_fhir_new(&bad, T0, &x), -EINVAL);
        bad.device_eui64 = "001A01000000001";       /* 15 digits */
        assert_int_equal(export_fhir_new(&bad, T0, &x), -EINVAL);
        bad.device_eui64 = "001A01000000000G";
        assert_int_equal(export_fhir_new(&bad, T0, &x), -EINVAL);
        bad.device_eui64 = "001A0100000000011";
        assert_int_equal(export_fhir_new(&bad, T0, &x), -EINVAL);
        bad = SOURCE;
        bad.software_version = NULL;
        assert_int_equal(export_fhir_new(&bad, T0, &x), -EINVAL);
        /* past year 9999, which R4's instant cannot say */
        assert_int_equal(export_fhir_new(&SOURCE, INT64_C(253402300800000000), &x), -EINVAL);
        assert_null(x);

        x = new_export();
        struct db_infusion good = row(1, "completed");
        assert_int_equal(export_fhir_add(x, &good), 0);
        assert_int_equal(export_fhir_add(NULL, &good), -EINVAL);
        assert_int_equal(export_fhir_add(x, NULL), -EINVAL);

        struct db_infusion cases[10];
        for (size_t i = 0; i < 10; i++)
                cases[i] = row(2, "completed");
        cases[0].status = "paused";
        cases[1].status = NULL;
        cases[2].status = "Completed";
        cases[3].mode = NULL;
        cases[4].volume_nl = -1;
        cases[5].rate_nl_per_h = -1;
        cases[6].id = 0;
        cases[7].ended_utc_us = 0;      /* completed, but no end */
        cases[8].started_utc_us = INT64_C(253402300800000000);
        cases[9].vtbi_nl = -1;
        for (size_t i = 0; i < 10; i++)
                if (export_fhir_add(x, &cases[i]) != -EINVAL)
                        fail_msg("case %zu was not refused", i);

        struct json_object *b = parse(x);
        assert_int_equal(json_object_array_length(at(b, "entry")), 2);
        json_object_put(b);
        assert_null(export_fhir_json(NULL));
        assert_null(export_fhir_free(NULL));
        assert_null(export_fhir_free(x));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bundle_is_a_collection_stamped_in_utc_with_the_pump_first),
                cmocka_unit_test(test_times_are_cut_to_the_millisecond_and_never_rounded_up),
                cmocka_unit_test(test_each_infusion_has_every_required_r4_element),
                cmocka_unit_test(test_statuses_map_onto_the_r4_value_set),
                cmocka_unit_test(test_quantities_are_the_exact_decimals_of_the_nanolitres),
                cmocka_unit_test(test_drug_coding_appears_only_with_a_drug_id),
                cmocka_unit_test(test_extensions_carry_vtbi_channel_care_area_and_library),
                cmocka_unit_test(test_strings_are_copied_and_round_trip),
                cmocka_unit_test(test_full_urls_are_unique_stable_and_referenced),
                cmocka_unit_test(test_bad_arguments_are_einval_and_leave_the_bundle_as_it_was),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
