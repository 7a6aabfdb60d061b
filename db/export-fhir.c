/* SPDX-License-Identifier: MIT */
/* The infusion history as FHIR R4 (4.0.1) JSON: a Bundle of type
 * "collection" whose first entry is a Device for the pump, followed by one
 * MedicationAdministration per infusion.
 *
 * What an interface engine can rely on:
 * - Device: id is the EUI-64 (16 hex digits); identifier system
 *   "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680" (IEEE EUI-64, as the HL7
 *   Personal Health Device IG uses it), value the EUI-64 as 8 dash-separated
 *   bytes ("00-1A-01-00-00-00-00-01"), the form that IG prescribes; type
 *   MDC 69985 (MDC_DEV_PUMP_INFUS_MDS, as IHE PCD messages name a pump);
 *   version[0].value the software version.
 * - entry.fullUrl: "urn:uuid:" with a UUID version 8 (RFC 9562) that packs
 *   the EUI-64, the kind of resource and the infusion id. The same pump and
 *   infusion get the same fullUrl in every export, so a receiver can match
 *   entries across exports, and the export stays a pure function. R4 wants
 *   an absolute URI here; "Device/x" would be relative to a server we are
 *   not.
 * - MedicationAdministration: id "infusion-<id>"; identifier system
 *   "urn:infusiond:<EUI-64>:infusion", value the id; status active ->
 *   in-progress, completed -> completed, stopped and interrupted -> stopped
 *   (interrupted with a statusReason text); device[0] refers to the Device
 *   entry's fullUrl.
 * - Volumes are in mL and rates in mL/h, UCUM ("http://unitsofmeasure.org",
 *   codes "mL" and "mL/h"), written as the exact decimal of the integer
 *   nanolitres recorded: never a rounded binary float.
 * - Extensions on the MedicationAdministration (absent when not known):
 *     urn:infusiond:fhir:vtbi                  valueQuantity, mL (UCUM)
 *     urn:infusiond:fhir:channel               valueInteger, the pump's own
 *                                              channel number (from 0)
 *     urn:infusiond:fhir:care-area             valueString
 *     urn:infusiond:fhir:drug-library-sha256   valueString
 *     urn:infusiond:fhir:dose-rate             valueQuantity, unit the
 *                                              library's dose unit (not UCUM,
 *                                              so no system or code)
 *     urn:infusiond:fhir:concentration         valueString */

#include "common/civil.h"
#include "db/export.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/macros.h"
#include "common/units.h"

#define UCUM "http://unitsofmeasure.org"
#define EUI64_SYSTEM "urn:oid:1.2.840.10004.1.1.1.0.0.1.0.0.1.2680"
#define MDC_SYSTEM "urn:iso:std:iso:11073:10101"
#define EXT "urn:infusiond:fhir:"
#define BASIC_INFUSION "basic infusion (no drug library entry)"
/* R4's instant and dateTime stop at year 9999. */
#define YEAR_MAX 9999
/* The fullUrl's UUID has 56 bits for the infusion id. */
#define UUID_ID_MAX ((INT64_C(1) << 56) - 1)
#define UUID_URN_LEN (9 + 36)

enum {
        URL_DEVICE,
        URL_INFUSION,
};

struct export_fhir {
        struct json_object *bundle;
        struct json_object *entries;    /* the bundle's */
        char eui64[17];
        char device_url[UUID_URN_LEN + 1];
};

static inline void json_object_putp(struct json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* The builders take ownership of v whatever happens, and remember a failed
 * allocation in *oom, so that a resource is built in one go and checked
 * once. v must be complete before it is attached: on failure it is freed. */
static void set(struct json_object *o, const char *key, struct json_object *v, bool *oom) {
        if (!o || !v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                *oom = true;
        }
}

static void set_str(struct json_object *o, const char *key, const char *s, bool *oom) {
        set(o, key, json_object_new_string(s), oom);
}

static void append(struct json_object *a, struct json_object *v, bool *oom) {
        if (!a || !v || json_object_array_add(a, v) < 0) {
                json_object_put(v);
                *oom = true;
        }
}

/* A one-element array: FHIR's 0..* elements. */
static struct json_object *one(struct json_object *v, bool *oom) {
        struct json_object *a = json_object_new_array();

        append(a, v, oom);
        return a;
}

/* An R4 instant (and dateTime) in UTC with milliseconds: cut, never rounded
 * up, so that no time appears later than it was recorded. */
static int format_time(int64_t utc_us, char buf[static 64]) {
        struct utc_civil c;

        /* Not gmtime_r: a 32-bit time_t (armhf) ends in 2038. */
        civil_from_utc_us(utc_us, &c);
        if (c.year < 1 || c.year > YEAR_MAX)
                return -EINVAL;
        snprintf(buf, 64, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", (int) c.year, c.month, c.day, c.hour, c.minute,
                 c.second, c.usec / 1000);
        return 0;
}

/* nL as the exact decimal in mL: 1 -> "0.000001", 25000000 -> "25". */
static void format_ml(int64_t nl, char buf[static 32]) {
        (void) units_nl_to_ml_text(nl, buf, 32);               /* 32 holds any int64 */
}

/* The shortest text that reads back as d: 0.1 stays "0.1", not
 * "0.10000000000000001", and 1000 stays "1000", not "1e+03", for the
 * people who read the dosage text. Exponents only where plain digits
 * cannot say it. */
static void format_double(double d, char buf[static 48]) {
        if (fabs(d) < 1e15)
                for (int decimals = 0; decimals <= 17; decimals++) {
                        snprintf(buf, 48, "%.*f", decimals, d);
                        if (strtod(buf, NULL) == d)
                                return;
                }
        for (int digits = 1; digits <= 17; digits++) {
                snprintf(buf, 48, "%.*g", digits, d);
                if (strtod(buf, NULL) == d)
                        return;
        }
}

static struct json_object *quantity(const char *value, double approx, const char *unit, bool ucum, bool *oom) {
        struct json_object *q = json_object_new_object();

        /* json-c writes the given text as the number, so the file holds the
         * exact decimal; the double is only what json-c hands back to C. */
        set(q, "value", json_object_new_double_s(approx, value), oom);
        if (unit)
                set_str(q, "unit", unit, oom);
        if (ucum) {
                set_str(q, "system", UCUM, oom);
                set_str(q, "code", unit, oom);
        }
        return q;
}

static struct json_object *quantity_ml(int64_t nl, const char *unit, bool *oom) {
        char text[32];

        format_ml(nl, text);
        return quantity(text, units_nl_to_ml(nl), unit, true, oom);
}

static struct json_object *extension(const char *name, const char *value_key, struct json_object *value, bool *oom) {
        struct json_object *e = json_object_new_object();
        char url[64];

        snprintf(url, sizeof url, EXT "%s", name);
        set_str(e, "url", url, oom);
        set(e, value_key, value, oom);
        return e;
}

static struct json_object *text_only(const char *text, bool *oom) {
        struct json_object *c = json_object_new_object();

        set_str(c, "text", text, oom);
        return c;
}

static unsigned hex_digit(char c) {
        return c <= '9' ? (unsigned) (c - '0') : (unsigned) (toupper((unsigned char) c) - 'A' + 10);
}

/* A UUID version 8 (RFC 9562: the layout is ours) from the EUI-64, the kind
 * of resource and an id below 2^56:
 *   48 bits EUI-64[0..5] | 4 version | 12 bits EUI-64 byte 6, high nibble
 *   of byte 7 | 2 variant | 4 bits low nibble of byte 7 | 2 kind | 56 id */
static void uuid_urn(const char eui64[static 17], unsigned kind, int64_t id, char buf[static UUID_URN_LEN + 1]) {
        uint8_t e[8], u[16];

        for (size_t i = 0; i < 8; i++)
                e[i] = (uint8_t) (hex_digit(eui64[2 * i]) << 4 | hex_digit(eui64[2 * i + 1]));
        memcpy(u, e, 6);
        u[6] = 0x80 | e[6] >> 4;
        u[7] = (uint8_t) (e[6] << 4 | e[7] >> 4);
        u[8] = 0x80 | (e[7] & 0x0f) << 2 | (kind & 3);
        for (size_t i = 0; i < 7; i++)
                u[9 + i] = (uint8_t) ((uint64_t) id >> (8 * (6 - i)));
        snprintf(buf, UUID_URN_LEN + 1,
                 "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
                 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static int append_entry(struct export_fhir *x, const char *full_url, struct json_object *resource) {
        struct json_object *entry = json_object_new_object();
        bool oom = false;

        set_str(entry, "fullUrl", full_url, &oom);
        set(entry, "resource", resource, &oom);
        if (oom) {
                json_object_put(entry);
                return -ENOMEM;
        }
        append(x->entries, entry, &oom);
        return oom ? -ENOMEM : 0;
}

static struct json_object *device(const struct export_fhir *x, const char *software_version, bool *oom) {
        struct json_object *d = json_object_new_object(), *id = json_object_new_object(),
                           *coding = json_object_new_object(), *type = json_object_new_object(),
                           *version = json_object_new_object();
        char dashed[24];

        snprintf(dashed, sizeof dashed, "%.2s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s-%.2s", x->eui64, x->eui64 + 2,
                 x->eui64 + 4, x->eui64 + 6, x->eui64 + 8, x->eui64 + 10, x->eui64 + 12, x->eui64 + 14);
        set_str(id, "system", EUI64_SYSTEM, oom);
        set_str(id, "value", dashed, oom);
        set_str(coding, "system", MDC_SYSTEM, oom);
        set_str(coding, "code", "69985", oom);
        set_str(coding, "display", "MDC_DEV_PUMP_INFUS_MDS", oom);
        set(type, "coding", one(coding, oom), oom);
        set_str(type, "text", "infusion pump", oom);
        set_str(version, "value", software_version, oom);

        set_str(d, "resourceType", "Device", oom);
        set_str(d, "id", x->eui64, oom);
        set(d, "identifier", one(id, oom), oom);
        set(d, "type", type, oom);
        set(d, "version", one(version, oom), oom);
        return d;
}

static bool eui64_valid(const char *s) {
        return s && strlen(s) == 16 && strspn(s, "0123456789abcdefABCDEF") == 16;
}

int export_fhir_new(const struct export_source *src, int64_t created_utc_us, struct export_fhir **ret) {
        _cleanup_(freep) struct export_fhir *x = NULL;
        _cleanup_(json_object_putp) struct json_object *bundle = NULL;
        struct json_object *identifier, *entries;
        char when[64], system[64], value[32];
        bool oom = false;
        int r;

        if (!src || !ret || !eui64_valid(src->device_eui64) || !src->software_version)
                return -EINVAL;
        r = format_time(created_utc_us, when);
        if (r < 0)
                return r;

        x = calloc(1, sizeof *x);
        if (!x)
                return -ENOMEM;
        for (size_t i = 0; i < 16; i++)
                x->eui64[i] = (char) toupper((unsigned char) src->device_eui64[i]);
        uuid_urn(x->eui64, URL_DEVICE, 0, x->device_url);

        /* An export is identified by its pump and the moment it was made. */
        bundle = json_object_new_object();
        identifier = json_object_new_object();
        snprintf(system, sizeof system, "urn:infusiond:%s:export", x->eui64);
        snprintf(value, sizeof value, "%" PRId64, created_utc_us);
        set_str(identifier, "system", system, &oom);
        set_str(identifier, "value", value, &oom);
        set_str(bundle, "resourceType", "Bundle", &oom);
        set(bundle, "identifier", identifier, &oom);
        set_str(bundle, "type", "collection", &oom);
        set_str(bundle, "timestamp", when, &oom);
        entries = json_object_new_array();
        set(bundle, "entry", entries, &oom);
        if (oom)
                return -ENOMEM;
        x->bundle = bundle;
        x->entries = entries;

        struct json_object *d = device(x, src->software_version, &oom);
        if (oom) {
                json_object_put(d);
                return -ENOMEM;
        }
        r = append_entry(x, x->device_url, d);
        if (r < 0)
                return r;

        TAKE_PTR(bundle);
        *ret = TAKE_PTR(x);
        return 0;
}

static const char *fhir_status(const char *status) {
        if (streq(status, "active"))
                return "in-progress";
        if (streq(status, "completed"))
                return "completed";
        /* R4 has no code for an infusion cut short by the pump itself: its
         * value set is in-progress, not-done, on-hold, completed,
         * entered-in-error, stopped, unknown. "stopped" (halted for good
         * before all of it was given) is what happened; the statusReason
         * says why. */
        if (streq(status, "stopped") || streq(status, "interrupted"))
                return "stopped";
        return NULL;
}

/* For a person reading the record; the numbers are also in their own
 * elements. */
static char *dosage_text(const struct db_infusion *inf) {
        _cleanup_(freep) char *text = NULL;
        char rate[32], vtbi[32], dose[48];
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return NULL;
        format_ml(inf->rate_nl_per_h, rate);
        format_ml(inf->vtbi_nl, vtbi);
        fprintf(f, "%s infusion on channel %u at %s mL/h, VTBI %s mL", inf->mode, inf->channel, rate, vtbi);
        if (inf->drug_id && isfinite(inf->dose_rate)) {
                format_double(inf->dose_rate, dose);
                fprintf(f, "; dose rate %s%s%s", dose, inf->dose_unit ? " " : "", inf->dose_unit ?: "");
        }
        if (inf->drug_id && inf->concentration)
                fprintf(f, "; concentration %s", inf->concentration);
        if (fclose(f) != 0)
                return NULL;
        return TAKE_PTR(text);
}

static struct json_object *medication(const struct db_infusion *inf, bool *oom) {
        struct json_object *m = json_object_new_object();
        _cleanup_(freep) char *system = NULL, *text = NULL;

        if (!inf->drug_id) {
                /* Keep a name the row has, but say that no library entry
                 * stood behind it. */
                if (inf->drug_name && asprintf(&text, "%s (" BASIC_INFUSION ")", inf->drug_name) < 0) {
                        text = NULL;
                        *oom = true;
                }
                set_str(m, "text", text ?: BASIC_INFUSION, oom);
                return m;
        }

        struct json_object *coding = json_object_new_object();
        /* A drug id means something only within its library version. */
        if (asprintf(&system, "urn:infusiond:drug-library%s%s", inf->library_sha256 ? ":" : "",
                     inf->library_sha256 ?: "") < 0) {
                system = NULL;
                *oom = true;
        } else
                set_str(coding, "system", system, oom);
        set_str(coding, "code", inf->drug_id, oom);
        if (inf->drug_name)
                set_str(coding, "display", inf->drug_name, oom);
        set(m, "coding", one(coding, oom), oom);
        set_str(m, "text", inf->drug_name ?: inf->drug_id, oom);
        return m;
}

static struct json_object *extensions(const struct db_infusion *inf, bool *oom) {
        struct json_object *a = json_object_new_array();

        append(a, extension("vtbi", "valueQuantity", quantity_ml(inf->vtbi_nl, "mL", oom), oom), oom);
        append(a, extension("channel", "valueInteger", json_object_new_int((int32_t) inf->channel), oom), oom);
        if (inf->care_area)
                append(a, extension("care-area", "valueString", json_object_new_string(inf->care_area), oom), oom);
        if (inf->library_sha256)
                append(a,
                       extension("drug-library-sha256", "valueString", json_object_new_string(inf->library_sha256),
                                 oom),
                       oom);
        if (inf->drug_id && isfinite(inf->dose_rate)) {
                char text[48];

                format_double(inf->dose_rate, text);
                append(a,
                       extension("dose-rate", "valueQuantity",
                                 quantity(text, inf->dose_rate, inf->dose_unit, false, oom), oom),
                       oom);
        }
        if (inf->drug_id && inf->concentration)
                append(a,
                       extension("concentration", "valueString", json_object_new_string(inf->concentration), oom),
                       oom);
        return a;
}

static struct json_object *period(const struct db_infusion *inf, const char *start, const char *end, bool *oom) {
        struct json_object *p = json_object_new_object();

        set_str(p, "start", start, oom);
        /* Absent while running: an open Period means "still going". */
        if (!streq(inf->status, "active"))
                set_str(p, "end", end, oom);
        return p;
}

static struct json_object *administration(const struct export_fhir *x, const struct db_infusion *inf,
                                          const char *status, const char *start, const char *end, bool *oom) {
        struct json_object *ma = json_object_new_object(), *identifier = json_object_new_object(),
                           *subject = json_object_new_object(), *dev = json_object_new_object(),
                           *dosage = json_object_new_object();
        _cleanup_(freep) char *text = dosage_text(inf);
        char id[32], system[64], value[32], display[40];

        snprintf(id, sizeof id, "infusion-%" PRId64, inf->id);
        snprintf(system, sizeof system, "urn:infusiond:%s:infusion", x->eui64);
        snprintf(value, sizeof value, "%" PRId64, inf->id);
        set_str(identifier, "system", system, oom);
        set_str(identifier, "value", value, oom);

        /* R4 requires a subject (1..1), but the pump is never told who the
         * patient is: a Reference with only a display is the least that is
         * valid, and it says so instead of inventing a patient. The
         * receiving system links the patient, e.g. by pump and time. */
        set_str(subject, "display", "patient not known to the pump", oom);

        snprintf(display, sizeof display, "infusion pump %s", x->eui64);
        set_str(dev, "reference", x->device_url, oom);
        set_str(dev, "display", display, oom);

        if (!text)
                *oom = true;
        else
                set_str(dosage, "text", text, oom);
        set(dosage, "dose", quantity_ml(inf->volume_nl, "mL", oom), oom);
        set(dosage, "rateQuantity", quantity_ml(inf->rate_nl_per_h, "mL/h", oom), oom);

        set_str(ma, "resourceType", "MedicationAdministration", oom);
        set_str(ma, "id", id, oom);
        set(ma, "extension", extensions(inf, oom), oom);
        set(ma, "identifier", one(identifier, oom), oom);
        set_str(ma, "status", status, oom);
        if (streq(inf->status, "interrupted"))
                /* The schema's "interrupted": the daemon died or lost power
                 * mid-infusion and found the row open at its next start. */
                set(ma, "statusReason",
                    one(text_only("interrupted: the pump restarted during this infusion; delivery stopped at "
                                  "an unknown moment before the end time, and the volume is the last one "
                                  "recorded before the restart",
                                  oom),
                        oom),
                    oom);
        set(ma, "medicationCodeableConcept", medication(inf, oom), oom);
        set(ma, "subject", subject, oom);
        set(ma, "effectivePeriod", period(inf, start, end, oom), oom);
        set(ma, "device", one(dev, oom), oom);
        set(ma, "dosage", dosage, oom);
        return ma;
}

int export_fhir_add(struct export_fhir *x, const struct db_infusion *inf) {
        char start[64], end[64] = "", url[UUID_URN_LEN + 1];
        const char *status;
        bool oom = false;
        int r;

        if (!x || !inf || !inf->mode || !inf->status)
                return -EINVAL;
        status = fhir_status(inf->status);
        if (!status)
                return -EINVAL;
        /* Amounts are never negative; ids are rows (from 1) and must fit the
         * fullUrl; FHIR's integer is 32 bits. */
        if (inf->id < 1 || inf->id > UUID_ID_MAX || inf->rate_nl_per_h < 0 || inf->vtbi_nl < 0 ||
            inf->volume_nl < 0 || inf->channel > INT32_MAX)
                return -EINVAL;
        r = format_time(inf->started_utc_us, start);
        if (r < 0)
                return r;
        if (!streq(inf->status, "active")) {
                /* An ended infusion without an end is not a row the schema
                 * lets through. */
                if (inf->ended_utc_us == 0)
                        return -EINVAL;
                r = format_time(inf->ended_utc_us, end);
                if (r < 0)
                        return r;
        }

        struct json_object *ma = administration(x, inf, status, start, end, &oom);
        if (oom) {
                json_object_put(ma);
                return -ENOMEM;
        }
        uuid_urn(x->eui64, URL_INFUSION, inf->id, url);
        return append_entry(x, url, ma);
}

const char *export_fhir_json(struct export_fhir *x) {
        if (!x)
                return NULL;
        return json_object_to_json_string_ext(x->bundle, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
}

struct export_fhir *export_fhir_free(struct export_fhir *x) {
        if (!x)
                return NULL;
        json_object_put(x->bundle);
        free(x);
        return NULL;
}
