/* SPDX-License-Identifier: MIT */
/* The HL7 export (db/export-hl7.c), read back with a small HL7 parser of
 * our own: messages end with "\r\n", segments with '\r', fields are split
 * on '|' and components on '^'. Every check is on a field, not on text. */
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

#include "db/export.h"

#define EUI "00A0B1FFFEC2D3E4"

#define MAX_FIELDS 64
#define MAX_SEGMENTS 64
#define MAX_MESSAGES 4

struct segment {
        char *field[MAX_FIELDS];
        unsigned n;
};

struct message {
        struct segment seg[MAX_SEGMENTS];
        unsigned n;
};

struct parsed {
        char *text;             /* split in place */
        char *raw;              /* as written */
        size_t size;
        struct message msg[MAX_MESSAGES];
        unsigned n;
};

static char *split(char **s, const char *sep) {
        char *start = *s, *end = strstr(start, sep);

        if (end) {
                *end = '\0';
                *s = end + strlen(sep);
        } else
                *s = NULL;
        return start;
}

static void parse(struct parsed *p) {
        char *rest = p->text;

        /* Every message ends with "\r\n", the last one too. */
        assert_true(p->size >= 2);
        assert_memory_equal(p->text + p->size - 2, "\r\n", 2);
        p->text[p->size - 2] = '\0';
        while (rest) {
                struct message *m;
                char *msg = split(&rest, "\r\n");

                assert_true(p->n < MAX_MESSAGES);
                m = &p->msg[p->n++];
                while (msg) {
                        char *seg = split(&msg, "\r");
                        struct segment *s;

                        assert_true(m->n < MAX_SEGMENTS);
                        s = &m->seg[m->n++];
                        assert_true(seg[0] != '\0');
                        while (seg) {
                                assert_true(s->n < MAX_FIELDS);
                                s->field[s->n++] = split(&seg, "|");
                        }
                }
        }
}

/* Export inf and parse what came out; returns export_hl7_infusion()'s
 * value. */
static int export(const struct db_infusion *inf, int64_t created, uint64_t *seq, struct parsed *p) {
        struct export_source src = { .device_eui64 = EUI, .software_version = "1.2.3" };
        FILE *f;
        int r;

        memset(p, 0, sizeof *p);
        f = open_memstream(&p->text, &p->size);
        assert_non_null(f);
        r = export_hl7_infusion(f, &src, inf, created, seq);
        assert_int_equal(fclose(f), 0);
        p->raw = malloc(p->size + 1);
        assert_non_null(p->raw);
        memcpy(p->raw, p->text, p->size + 1);
        if (r > 0)
                parse(p);
        return r;
}

static void parsed_done(struct parsed *p) {
        free(p->text);
        free(p->raw);
}

/* Field n of a segment (for MSH, n is HL7's MSH-n: MSH-1 is the separator
 * itself, so field[1] is MSH-2). "" when the segment is shorter. */
static const char *fld(const struct segment *s, unsigned n) {
        unsigned i = strcmp(s->field[0], "MSH") == 0 ? n - 1 : n;

        return i < s->n ? s->field[i] : "";
}

/* Component c (1-based) of a field. */
static const char *comp(const char *field, unsigned c) {
        static char buf[4][512];
        static unsigned next;
        char *out = buf[next++ % 4];
        const char *s = field;

        for (unsigned i = 1; i < c; i++) {
                s = strchr(s, '^');
                if (!s) {
                        out[0] = '\0';
                        return out;
                }
                s++;
        }
        size_t len = strcspn(s, "^");
        assert_true(len < sizeof buf[0]);
        memcpy(out, s, len);
        out[len] = '\0';
        return out;
}

static const struct segment *segment(const struct message *m, const char *name) {
        for (unsigned i = 0; i < m->n; i++)
                if (strcmp(m->seg[i].field[0], name) == 0)
                        return &m->seg[i];
        return NULL;
}

/* The OBX whose OBX-3 has this reference id (its 2nd component). */
static const struct segment *obx(const struct message *m, const char *refid) {
        const struct segment *found = NULL;

        for (unsigned i = 0; i < m->n; i++)
                if (strcmp(m->seg[i].field[0], "OBX") == 0 && strcmp(comp(fld(&m->seg[i], 3), 2), refid) == 0) {
                        assert_null(found);     /* one each */
                        found = &m->seg[i];
                }
        return found;
}

static const char *value(const struct message *m, const char *refid) {
        const struct segment *s = obx(m, refid);

        assert_non_null(s);
        return fld(s, 5);
}

static struct db_infusion infusion(const char *status) {
        return (struct db_infusion) {
                .id = 42,
                .channel = 0,
                .mode = "continuous",
                .rate_nl_per_h = 25000000,              /* 25 mL/h */
                .vtbi_nl = 100000000,                   /* 100 mL */
                .kvo_rate_nl_per_h = 1000000,
                .volume_nl = 40000000,                  /* 40 mL */
                .started_utc_us = 1700000000123456,     /* 2023-11-14 22:13:20.123456 UTC */
                .ended_utc_us = strcmp(status, "active") == 0 ? 0 : 1700003600000000,
                .status = status,
                .drug_id = NULL,
                .drug_name = NULL,
                .dose_rate = NAN,
                .checkpoint_utc_us = 1700003599000000,
        };
}

static struct db_infusion library_infusion(const char *status) {
        struct db_infusion inf = infusion(status);

        inf.care_area = "ICU";
        inf.drug_id = "heparin-25k";
        inf.drug_name = "Heparin";
        inf.dose_rate = 1250;
        inf.dose_unit = "units/h";
        inf.concentration = "25000 units / 500 mL";
        return inf;
}

static void test_an_active_infusion_gives_one_delivery_start(void **state) {
        struct db_infusion inf = infusion("active");
        struct parsed p;
        uint64_t seq = 1;

        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 1);
        assert_int_equal(p.n, 1);
        assert_string_equal(fld(segment(&p.msg[0], "OBR"), 4), "197288^MDC_EVT_PUMP_DELIV_START^MDC");
        assert_string_equal(value(&p.msg[0], "MDC_ATTR_EVT_COND"), "197288^MDC_EVT_PUMP_DELIV_START^MDC");
        parsed_done(&p);
}

static void test_a_completed_infusion_gives_a_start_then_a_delivery_complete(void **state) {
        struct db_infusion inf = infusion("completed");
        struct parsed p;
        uint64_t seq = 1;

        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        assert_int_equal(p.n, 2);
        assert_string_equal(comp(fld(segment(&p.msg[0], "OBR"), 4), 2), "MDC_EVT_PUMP_DELIV_START");
        assert_string_equal(fld(segment(&p.msg[1], "OBR"), 4), "197292^MDC_EVT_PUMP_DELIV_COMP^MDC");
        assert_string_equal(value(&p.msg[1], "MDC_ATTR_EVT_COND"), "197292^MDC_EVT_PUMP_DELIV_COMP^MDC");
        assert_string_equal(value(&p.msg[1], "MDC_PUMP_INFUSING_STATUS"), "^pump-status-not-infusing");
        assert_string_equal(value(&p.msg[1], "MDC_DEV_PUMP_NOT_DELIVERING_REASON"), "^pump-stopped-not-specified");
        assert_null(segment(&p.msg[1], "NTE"));
        parsed_done(&p);
}

static void test_stopped_and_interrupted_infusions_end_with_a_delivery_stop(void **state) {
        const char *statuses[] = { "stopped", "interrupted" };

        for (unsigned i = 0; i < 2; i++) {
                struct db_infusion inf = infusion(statuses[i]);
                const struct segment *nte;
                struct parsed p;
                uint64_t seq = 1;

                assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
                assert_string_equal(comp(fld(segment(&p.msg[1], "OBR"), 4), 2), "MDC_EVT_PUMP_DELIV_STOP");
                assert_string_equal(comp(value(&p.msg[1], "MDC_ATTR_EVT_COND"), 2), "MDC_EVT_PUMP_DELIV_STOP");
                assert_string_equal(value(&p.msg[1], "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"),
                                    "^pump-delivery-status-not-delivering");
                nte = segment(&p.msg[1], "NTE");
                if (i == 0) {
                        /* Only Channel.Stop stops: a person did. */
                        assert_string_equal(value(&p.msg[1], "MDC_DEV_PUMP_NOT_DELIVERING_REASON"),
                                            "^pump-stopped-by-clinician");
                        assert_null(nte);
                } else {
                        assert_string_equal(value(&p.msg[1], "MDC_DEV_PUMP_NOT_DELIVERING_REASON"),
                                            "^pump-stopped-not-specified");
                        assert_non_null(nte);
                        assert_non_null(strstr(fld(nte, 3), "Interrupted"));
                        /* With when the volume was last recorded. */
                        assert_non_null(strstr(fld(nte, 3), "20231114231319.0000+0000"));
                }
                /* The start is in neither's second message. */
                assert_null(segment(&p.msg[0], "NTE"));
                parsed_done(&p);
        }
}

static void test_the_header_names_the_pump_the_message_and_the_profile(void **state) {
        struct db_infusion inf = infusion("stopped");
        struct parsed p;
        uint64_t seq = 7;

        assert_int_equal(export(&inf, 1700007200500000, &seq, &p), 2);
        for (unsigned i = 0; i < 2; i++) {
                const struct message *m = &p.msg[i];
                const struct segment *msh = &m->seg[0];

                assert_string_equal(msh->field[0], "MSH");
                assert_string_equal(fld(msh, 2), "^~\\&");
                assert_string_equal(fld(msh, 3), "INFUSIOND^" EUI "^EUI-64");
                assert_string_equal(fld(msh, 7), "20231115001320.5000+0000");
                assert_string_equal(fld(msh, 9), "ORU^R42^ORU_R01");
                assert_string_equal(fld(msh, 10), i == 0 ? EUI "-7" : EUI "-8");
                assert_string_equal(fld(msh, 11), "P");
                assert_string_equal(fld(msh, 12), "2.6");
                assert_string_equal(fld(msh, 15), "NE");
                assert_string_equal(fld(msh, 16), "AL");
                assert_string_equal(fld(msh, 21), "IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO");

                /* The patient is not known: no identifiers, PID-31 says so. */
                assert_string_equal(m->seg[1].field[0], "PID");
                assert_string_equal(fld(&m->seg[1], 3), "");
                assert_string_equal(fld(&m->seg[1], 5), "");
                assert_string_equal(fld(&m->seg[1], 31), "Y");
                assert_int_equal(m->seg[1].n, 32);

                /* OBR-3 names the infusion, so a Start pairs with its Stop. */
                assert_string_equal(m->seg[2].field[0], "OBR");
                assert_string_equal(fld(&m->seg[2], 3), "42^INFUSIOND^" EUI "^EUI-64");

                /* The rest are OBX, numbered from 1. */
                for (unsigned j = 3, set_id = 1; j < m->n; j++) {
                        char expect[16];

                        assert_string_equal(m->seg[j].field[0], "OBX");
                        snprintf(expect, sizeof expect, "%u", set_id++);
                        assert_string_equal(fld(&m->seg[j], 1), expect);
                }
                assert_string_equal(fld(obx(m, "MDC_DEV_PUMP_INFUS_MDS"), 18), EUI "^^" EUI "^EUI-64");
        }
        parsed_done(&p);
}

static void test_the_observations_carry_rate_vtbi_and_volumes(void **state) {
        struct db_infusion inf = infusion("completed");
        const struct segment *s;
        struct parsed p;
        uint64_t seq = 1;

        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        /* At the start: nothing delivered yet, all of the VTBI left. */
        assert_string_equal(value(&p.msg[0], "MDC_PUMP_INFUSING_STATUS"), "^pump-status-infusing");
        assert_string_equal(value(&p.msg[0], "MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS"),
                            "^pump-delivery-status-delivering");
        assert_null(obx(&p.msg[0], "MDC_DEV_PUMP_NOT_DELIVERING_REASON"));
        assert_string_equal(value(&p.msg[0], "MDC_FLOW_FLUID_PUMP_CURRENT"), "25");
        assert_string_equal(value(&p.msg[0], "MDC_FLOW_FLUID_PUMP"), "25");
        assert_string_equal(value(&p.msg[0], "MDC_VOL_FLUID_TBI"), "100");
        assert_string_equal(value(&p.msg[0], "MDC_VOL_FLUID_DELIV_TOTAL"), "0");
        assert_string_equal(value(&p.msg[0], "MDC_VOL_FLUID_TBI_REMAIN"), "100");
        assert_string_equal(value(&p.msg[0], "MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE"),
                            "^pump-program-delivery-mode-continuous");
        /* At the end: the volume recorded, the rest left, no flow now. */
        assert_string_equal(value(&p.msg[1], "MDC_FLOW_FLUID_PUMP_CURRENT"), "0");
        assert_string_equal(value(&p.msg[1], "MDC_FLOW_FLUID_PUMP"), "25");
        assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_TBI"), "100");
        assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_DELIV_TOTAL"), "40");
        assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_TBI_REMAIN"), "60");

        s = obx(&p.msg[1], "MDC_FLOW_FLUID_PUMP");
        assert_string_equal(fld(s, 2), "NM");
        assert_string_equal(fld(s, 3), "157784^MDC_FLOW_FLUID_PUMP^MDC");
        assert_string_equal(fld(s, 6), "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM");
        assert_string_equal(fld(s, 11), "R");
        s = obx(&p.msg[1], "MDC_VOL_FLUID_DELIV_TOTAL");
        assert_string_equal(fld(s, 3), "157993^MDC_VOL_FLUID_DELIV_TOTAL^MDC");
        assert_string_equal(fld(s, 6), "263762^MDC_DIM_MILLI_L^MDC^mL^mL^UCUM");
        assert_string_equal(comp(fld(obx(&p.msg[1], "MDC_VOL_FLUID_TBI"), 6), 2), "MDC_DIM_MILLI_L");
        assert_string_equal(comp(fld(obx(&p.msg[1], "MDC_VOL_FLUID_TBI_REMAIN"), 6), 2), "MDC_DIM_MILLI_L");
        parsed_done(&p);
}

static void test_the_volume_left_is_never_negative(void **state) {
        struct db_infusion inf = infusion("completed");
        struct parsed p;
        uint64_t seq = 1;

        inf.volume_nl = inf.vtbi_nl + 1500000;  /* KVO went on past the VTBI */
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_DELIV_TOTAL"), "101.5");
        assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_TBI_REMAIN"), "0");
        parsed_done(&p);
}

static void test_the_channel_places_the_observations_in_the_containment_tree(void **state) {
        struct db_infusion inf = infusion("stopped");
        struct parsed p;
        uint64_t seq = 1;

        inf.channel = 2;
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        for (unsigned i = 0; i < 2; i++) {
                const struct message *m = &p.msg[i];

                assert_string_equal(fld(obx(m, "MDC_DEV_PUMP_INFUS_MDS"), 4), "1.0.0.0");
                assert_string_equal(fld(obx(m, "MDC_DEV_PUMP_INFUS_VMD"), 4), "1.1.0.0");
                assert_string_equal(fld(obx(m, "MDC_DEV_PUMP_INFUS_CHAN_DELIVERY"), 4), "1.1.3.0");
                assert_string_equal(value(m, "MDC_ATTR_EVT_SOURCE"), "1.1.3.0");
                /* Every metric is under channel 3 (our channel 2), each its own N. */
                for (unsigned j = 0; j < m->n; j++) {
                        const struct segment *s = &m->seg[j];
                        const char *sub = fld(s, 4);

                        if (strcmp(s->field[0], "OBX") != 0 || strncmp(sub, "1.0.", 4) == 0 ||
                            strcmp(sub, "1.1.0.0") == 0)
                                continue;
                        assert_true(strncmp(sub, "1.1.3.", 6) == 0);
                        for (unsigned k = j + 1; k < m->n; k++)
                                assert_string_not_equal(sub, fld(&m->seg[k], 4));
                }
                assert_string_equal(fld(obx(m, "MDC_FLOW_FLUID_PUMP"), 4), "1.1.3.7");
                assert_string_equal(fld(obx(m, "MDC_VOL_FLUID_TBI_REMAIN"), 4), "1.1.3.11");
        }
        parsed_done(&p);
}

static void test_a_library_drug_has_its_name_id_and_dose_rate(void **state) {
        struct db_infusion inf = library_infusion("completed");
        const struct segment *s;
        struct parsed p;
        uint64_t seq = 1;

        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        for (unsigned i = 0; i < 2; i++) {
                s = obx(&p.msg[i], "MDC_DRUG_NAME_TYPE");
                assert_non_null(s);
                assert_string_equal(fld(s, 2), "CWE");
                assert_string_equal(fld(s, 5), "heparin-25k^Heparin^L");
                s = obx(&p.msg[i], "MDC_RATE_DOSE");
                assert_non_null(s);
                assert_string_equal(fld(s, 2), "NM");
                assert_string_equal(fld(s, 5), "1250");
                assert_string_equal(fld(s, 6), "^units/h");
                assert_string_equal(fld(s, 11), "R");
                assert_string_equal(fld(s, 14), i == 0 ? "20231114221320.1234+0000" : "20231114231320.0000+0000");
        }
        parsed_done(&p);

        /* Fractions as the shortest decimal that is the same double. */
        inf.dose_rate = 0.1;
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        assert_string_equal(value(&p.msg[0], "MDC_RATE_DOSE"), "0.1");
        parsed_done(&p);
        inf.dose_rate = 2.5;
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        assert_string_equal(value(&p.msg[0], "MDC_RATE_DOSE"), "2.5");
        parsed_done(&p);
}

static void test_a_basic_infusion_is_named_so_and_has_no_dose_rate(void **state) {
        struct db_infusion inf = infusion("completed");
        struct parsed p;
        uint64_t seq = 1;

        inf.dose_rate = 3;      /* not a library drug: ignored */
        inf.dose_unit = "mg/h";
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        for (unsigned i = 0; i < 2; i++) {
                assert_string_equal(value(&p.msg[i], "MDC_DRUG_NAME_TYPE"), "^basic infusion");
                assert_null(obx(&p.msg[i], "MDC_RATE_DOSE"));
        }
        parsed_done(&p);
}

static void test_a_library_drug_without_a_dose_rate_has_no_dose_rate_row(void **state) {
        struct db_infusion inf = library_infusion("active");
        struct parsed p;
        uint64_t seq = 1;

        inf.dose_rate = NAN;
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 1);
        assert_string_equal(comp(value(&p.msg[0], "MDC_DRUG_NAME_TYPE"), 2), "Heparin");
        assert_null(obx(&p.msg[0], "MDC_RATE_DOSE"));
        parsed_done(&p);
}

static void test_volumes_are_exact_decimals_of_ml(void **state) {
        static const struct {
                int64_t nl;
                const char *ml;
        } cases[] = {
                { 0, "0" },
                { 1, "0.000001" },
                { 1500, "0.0015" },
                { 10, "0.00001" },
                { 999999, "0.999999" },
                { 1000000, "1" },
                { 25000000, "25" },
                { 1234567891, "1234.567891" },
                { 1000000100000, "1000000.1" },
                { INT64_MAX, "9223372036854.775807" },
        };

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct db_infusion inf = infusion("stopped");
                struct parsed p;
                uint64_t seq = 1;

                inf.rate_nl_per_h = cases[i].nl;
                inf.vtbi_nl = cases[i].nl;
                inf.volume_nl = cases[i].nl;
                assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
                assert_string_equal(value(&p.msg[0], "MDC_FLOW_FLUID_PUMP"), cases[i].ml);
                assert_string_equal(value(&p.msg[0], "MDC_VOL_FLUID_TBI"), cases[i].ml);
                assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_DELIV_TOTAL"), cases[i].ml);
                assert_string_equal(value(&p.msg[1], "MDC_VOL_FLUID_TBI_REMAIN"), "0");
                parsed_done(&p);
        }
}

static void test_times_are_utc_with_four_decimals_cut_not_rounded(void **state) {
        static const struct {
                int64_t us;
                const char *dtm;
                const char *a_second_later;
        } cases[] = {
                { 1700000000123456, "20231114221320.1234+0000", "20231114221321.1234+0000" },
                /* not 21.0000 */
                { 1700000000999999, "20231114221320.9999+0000", "20231114221321.9999+0000" },
                /* not the next year */
                { 1704067199999999, "20231231235959.9999+0000", "20240101000000.9999+0000" },
                { 0, "19700101000000.0000+0000", "19700101000001.0000+0000" },
                { -1, "19691231235959.9999+0000", "19700101000000.9999+0000" },
        };
        /* A local zone far from UTC must change nothing. */
        setenv("TZ", "Pacific/Kiritimati", 1);
        tzset();

        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
                struct db_infusion inf = infusion("completed");
                struct parsed p;
                uint64_t seq = 1;

                inf.started_utc_us = cases[i].us;
                inf.ended_utc_us = cases[i].us + 1000000;
                assert_int_equal(export(&inf, cases[i].us, &seq, &p), 2);
                /* MSH-7 is when the export was made, in both. */
                assert_string_equal(fld(&p.msg[0].seg[0], 7), cases[i].dtm);
                assert_string_equal(fld(&p.msg[1].seg[0], 7), cases[i].dtm);
                /* OBR-7 and every OBX-14: the start, then the end. */
                assert_string_equal(fld(segment(&p.msg[0], "OBR"), 7), cases[i].dtm);
                for (unsigned j = 3; j < p.msg[0].n; j++)
                        assert_string_equal(fld(&p.msg[0].seg[j], 14), cases[i].dtm);
                assert_string_equal(fld(segment(&p.msg[1], "OBR"), 7), cases[i].a_second_later);
                for (unsigned j = 3; j < p.msg[1].n; j++)
                        assert_string_equal(fld(&p.msg[1].seg[j], 14), cases[i].a_second_later);
                parsed_done(&p);
        }
        unsetenv("TZ");
        tzset();
}

static void test_a_hostile_drug_name_is_escaped(void **state) {
        struct db_infusion inf = library_infusion("completed");
        struct parsed p;
        uint64_t seq = 1;

        inf.drug_id = "id|1";
        inf.drug_name = "A|B^C~D\\E&F\rMSH|x\nG";
        inf.dose_unit = "u^|h";
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 2);
        /* The structure holds: two messages, nothing split off. */
        assert_int_equal(p.n, 2);
        for (unsigned i = 0; i < 2; i++) {
                assert_string_equal(value(&p.msg[i], "MDC_DRUG_NAME_TYPE"),
                                    "id\\F\\1^A\\F\\B\\S\\C\\R\\D\\E\\E\\T\\F\\X0D\\MSH\\F\\x\\X0A\\G^L");
                assert_string_equal(fld(obx(&p.msg[i], "MDC_RATE_DOSE"), 6), "^u\\S\\\\F\\h");
                assert_string_equal(p.msg[i].seg[0].field[0], "MSH");
                for (unsigned j = 1; j < p.msg[i].n; j++)
                        assert_string_not_equal(p.msg[i].seg[j].field[0], "MSH");
        }
        parsed_done(&p);
}

static void test_a_mode_ipec_has_no_name_for_is_sent_as_text(void **state) {
        struct db_infusion inf = infusion("active");
        struct parsed p;
        uint64_t seq = 1;

        inf.mode = "pca";
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 1);
        assert_string_equal(value(&p.msg[0], "MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE"), "^^^^^^^^pca");
        parsed_done(&p);
        inf.mode = "multistep";
        assert_int_equal(export(&inf, 1700007200000000, &seq, &p), 1);
        assert_string_equal(value(&p.msg[0], "MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE"),
                            "^pump-program-delivery-mode-multi-step");
        parsed_done(&p);
}

static void test_message_seq_numbers_each_message_and_advances(void **state) {
        struct db_infusion active = infusion("active"), done = infusion("completed");
        struct parsed p;
        uint64_t seq = 99;

        assert_int_equal(export(&active, 1700007200000000, &seq, &p), 1);
        assert_int_equal(seq, 100);
        assert_string_equal(fld(&p.msg[0].seg[0], 10), EUI "-99");
        parsed_done(&p);
        assert_int_equal(export(&done, 1700007200000000, &seq, &p), 2);
        assert_int_equal(seq, 102);
        assert_string_equal(fld(&p.msg[0].seg[0], 10), EUI "-100");
        assert_string_equal(fld(&p.msg[1].seg[0], 10), EUI "-101");
        parsed_done(&p);
}

static void test_rows_that_cannot_be_exported_are_refused_and_nothing_is_written(void **state) {
        struct export_source src = { .device_eui64 = EUI }, no_eui = { 0 };
        struct db_infusion inf = infusion("completed"), bad;
        uint64_t seq = 5;
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        assert_non_null(f);
        assert_int_equal(export_hl7_infusion(NULL, &src, &inf, 0, &seq), -EINVAL);
        assert_int_equal(export_hl7_infusion(f, NULL, &inf, 0, &seq), -EINVAL);
        assert_int_equal(export_hl7_infusion(f, &no_eui, &inf, 0, &seq), -EINVAL);
        assert_int_equal(export_hl7_infusion(f, &src, NULL, 0, &seq), -EINVAL);
        assert_int_equal(export_hl7_infusion(f, &src, &inf, 0, NULL), -EINVAL);
        bad = inf;
        bad.status = NULL;
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);
        bad = inf;
        bad.status = "paused";
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);
        bad = inf;
        bad.mode = NULL;
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);
        bad = inf;
        bad.ended_utc_us = 0;   /* ended, but not when */
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);
        bad = inf;
        bad.volume_nl = -1;
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);
        bad = inf;
        bad.ended_utc_us = INT64_MAX;   /* past year 9999 */
        assert_int_equal(export_hl7_infusion(f, &src, &bad, 0, &seq), -EINVAL);

        assert_int_equal(fclose(f), 0);
        assert_int_equal(size, 0);
        assert_int_equal(seq, 5);
        free(buf);
}

static void test_a_stream_that_fails_gives_eio(void **state) {
        struct export_source src = { .device_eui64 = EUI };
        struct db_infusion inf = infusion("completed");
        uint64_t seq = 1;
        FILE *f = fopen("/dev/full", "w");

        if (!f)
                skip();
        setvbuf(f, NULL, _IONBF, 0);
        assert_int_equal(export_hl7_infusion(f, &src, &inf, 1700007200000000, &seq), -EIO);
        assert_int_equal(seq, 1);       /* nothing was written */
        fclose(f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_an_active_infusion_gives_one_delivery_start),
                cmocka_unit_test(test_a_completed_infusion_gives_a_start_then_a_delivery_complete),
                cmocka_unit_test(test_stopped_and_interrupted_infusions_end_with_a_delivery_stop),
                cmocka_unit_test(test_the_header_names_the_pump_the_message_and_the_profile),
                cmocka_unit_test(test_the_observations_carry_rate_vtbi_and_volumes),
                cmocka_unit_test(test_the_volume_left_is_never_negative),
                cmocka_unit_test(test_the_channel_places_the_observations_in_the_containment_tree),
                cmocka_unit_test(test_a_library_drug_has_its_name_id_and_dose_rate),
                cmocka_unit_test(test_a_basic_infusion_is_named_so_and_has_no_dose_rate),
                cmocka_unit_test(test_a_library_drug_without_a_dose_rate_has_no_dose_rate_row),
                cmocka_unit_test(test_volumes_are_exact_decimals_of_ml),
                cmocka_unit_test(test_times_are_utc_with_four_decimals_cut_not_rounded),
                cmocka_unit_test(test_a_hostile_drug_name_is_escaped),
                cmocka_unit_test(test_a_mode_ipec_has_no_name_for_is_sent_as_text),
                cmocka_unit_test(test_message_seq_numbers_each_message_and_advances),
                cmocka_unit_test(test_rows_that_cannot_be_exported_are_refused_and_nothing_is_written),
                cmocka_unit_test(test_a_stream_that_fails_gives_eio),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
