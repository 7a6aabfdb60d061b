/* SPDX-License-Identifier: MIT */
/* HL7 v2.6 export of infusions as IHE PCD-10 (Infusion Pump Event
 * Communication, IPEC) ORU^R42^ORU_R01 messages: a Delivery Start, and once
 * the infusion has ended a Delivery Complete or a Delivery Stop.
 *
 * Where the layout comes from: the IHE PCD IPEC supplement (Rev. 1.5,
 * 2015-11-25), section 3.10 and Appendix X: its event table (X.1.2-1), the
 * parameters each delivery event carries (X.1.2.1-2 and the clinical
 * scenarios) and its Delivery Start sample message; MSH-21 is the PCD-10
 * profile id it gives (OID 1.3.6.1.4.1.19376.1.6.4.10). Observations follow
 * the IEEE 11073 containment tree in OBX-4 (MDS 1.0.0.0, VMD 1.1.0.0, the
 * channel 1.1.<channel + 1>.0 and its metrics 1.1.<channel + 1>.N).
 *
 * MDC codes: each numeric code below is one seen in a published message or
 * vendor specification (see the table). MDC_EVT_PUMP_DELIV_STOP is named by
 * the IPEC event table but we found no published numeric code for it: it is
 * sent with code 0, as the IPEC sample does for codes "pending as of
 * publication", so a receiver matches it by its reference id. */

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/civil.h"
#include "common/macros.h"
#include "common/units.h"
#include "db/export.h"

/* Observation identifiers (OBX-3) and event codes, as CWE
 * "<code>^<reference id>^MDC". Sources: [S] the IPEC Rev. 1.5 sample
 * message; [P] the IHE PCD spreadsheet of infusion pump terms (the
 * partition 1 codes 1::2951 and 1::2952); [V] messages and a 2013 vendor
 * HL7 specification built against the Rosetta tables, as quoted in public
 * code; [E] the IPEC 2011 draft's example message. */
#define MDC_DEV_PUMP_INFUS_MDS                  "69985^MDC_DEV_PUMP_INFUS_MDS^MDC"              /* [E][V] */
#define MDC_DEV_PUMP_INFUS_VMD                  "69986^MDC_DEV_PUMP_INFUS_VMD^MDC"              /* [E][V] */
#define MDC_DEV_PUMP_INFUS_CHAN_DELIVERY        "126978^MDC_DEV_PUMP_INFUS_CHAN_DELIVERY^MDC"   /* [E][V] */
#define MDC_ATTR_EVT_COND                       "68487^MDC_ATTR_EVT_COND^MDC"                   /* [P] */
#define MDC_ATTR_EVT_SOURCE                     "68488^MDC_ATTR_EVT_SOURCE^MDC"                 /* [P] */
#define MDC_EVT_PUMP_DELIV_START                "197288^MDC_EVT_PUMP_DELIV_START^MDC"           /* [S] */
#define MDC_EVT_PUMP_DELIV_COMP                 "197292^MDC_EVT_PUMP_DELIV_COMP^MDC"            /* [V] */
#define MDC_EVT_PUMP_DELIV_STOP                 "0^MDC_EVT_PUMP_DELIV_STOP^MDC"                 /* code not found */
#define MDC_PUMP_INFUSING_STATUS                "184519^MDC_PUMP_INFUSING_STATUS^MDC"           /* [S] */
#define MDC_FLOW_FLUID_PUMP_CURRENT             "158014^MDC_FLOW_FLUID_PUMP_CURRENT^MDC"        /* [V] */
#define MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS    "158005^MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS^MDC" /* [V] */
#define MDC_DEV_PUMP_NOT_DELIVERING_REASON      "158006^MDC_DEV_PUMP_NOT_DELIVERING_REASON^MDC" /* [V] */
#define MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE      "158008^MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE^MDC" /* [V] */
#define MDC_DRUG_NAME_TYPE                      "184330^MDC_DRUG_NAME_TYPE^MDC"                 /* [V] */
#define MDC_FLOW_FLUID_PUMP                     "157784^MDC_FLOW_FLUID_PUMP^MDC"                /* [S][V] */
#define MDC_RATE_DOSE                           "157924^MDC_RATE_DOSE^MDC"                      /* [S][V] */
#define MDC_VOL_FLUID_TBI                       "157884^MDC_VOL_FLUID_TBI^MDC"                  /* [S][V] */
#define MDC_VOL_FLUID_DELIV_TOTAL               "157993^MDC_VOL_FLUID_DELIV_TOTAL^MDC"          /* [S] */
#define MDC_VOL_FLUID_TBI_REMAIN                "157872^MDC_VOL_FLUID_TBI_REMAIN^MDC"           /* [S][V] */
/* Units (OBX-6), MDC then UCUM, as in [S]. */
#define UNIT_ML_PER_H                           "265266^MDC_DIM_MILLI_L_PER_HR^MDC^mL/h^mL/h^UCUM"
#define UNIT_ML                                 "263762^MDC_DIM_MILLI_L^MDC^mL^mL^UCUM"

#define PCD10_PROFILE                           "IHE_PCD_010^IHE PCD^1.3.6.1.4.1.19376.1.6.4.10^ISO"

/* The metrics of a channel, by their fixed N in 1.1.<channel + 1>.N: a row
 * that does not apply is left out, the others keep their number. */
enum {
        METRIC_INFUSING_STATUS = 1,
        METRIC_CURRENT_FLOW,
        METRIC_DELIVERY_STATUS,
        METRIC_NOT_DELIVERING_REASON,
        METRIC_DELIVERY_MODE,
        METRIC_DRUG,
        METRIC_RATE,
        METRIC_DOSE_RATE,
        METRIC_VTBI,
        METRIC_VOLUME_DELIVERED,
        METRIC_VOLUME_REMAINING,
};

enum event {
        EVENT_START,
        EVENT_COMPLETE,
        EVENT_STOP,
};

/* YYYYMMDDHHMMSS.SSSS+0000 is 24 characters; room for what the compiler
 * thinks struct tm's ints could print. */
#define DTM_MAX 72

struct message {
        FILE *f;
        unsigned obx;                   /* OBX-1 of the last row */
        unsigned long long channel;     /* the channel's number in OBX-4 */
        const char *time;               /* OBX-14 */
};

/* Text in a field: HL7's escapes for its delimiters (MSH-2 "^~\&" and the
 * field separator), and \Xhh\ for control characters, so no value can end
 * a field, a segment or a message early. */
static void put_text(FILE *f, const char *s) {
        for (; *s; s++)
                switch (*s) {
                case '|':
                        fputs("\\F\\", f);
                        break;
                case '^':
                        fputs("\\S\\", f);
                        break;
                case '~':
                        fputs("\\R\\", f);
                        break;
                case '\\':
                        fputs("\\E\\", f);
                        break;
                case '&':
                        fputs("\\T\\", f);
                        break;
                default:
                        if ((unsigned char) *s < 0x20 || *s == 0x7f)
                                fprintf(f, "\\X%02X\\", (unsigned) (unsigned char) *s);
                        else
                                fputc(*s, f);
                }
}

/* nL (or nL/h) as mL (mL/h), exactly: the integer divided by 10^6 in
 * integer arithmetic, without trailing zeros ("25", "0.0015", "0"). Values
 * are checked non-negative before anything is written. */
static void put_ml(FILE *f, int64_t nl) {
        char text[32];

        (void) units_nl_to_ml_text(nl, text, sizeof text);     /* 32 holds any int64 */
        fputs(text, f);
}

/* A dose rate (a double from the program) as an HL7 NM, which has no
 * exponent: the fewest decimals that read back as the same double, so 2.5
 * is "2.5" and 0.1 is "0.1", not 0.1000000000000000055... printf and strtod
 * follow LC_NUMERIC; the daemon never sets a locale, so that is "C". */
static void put_double(FILE *f, double v) {
        char buf[400];

        for (int decimals = 0; decimals <= 17; decimals++) {
                snprintf(buf, sizeof buf, "%.*f", decimals, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        if (strchr(buf, '.')) {
                size_t n = strlen(buf);
                while (buf[n - 1] == '0')
                        buf[--n] = '\0';
                if (buf[n - 1] == '.')
                        buf[n - 1] = '\0';
        }
        fputs(buf, f);
}

/* HL7 DTM in UTC. DTM allows 4 fractional digits of a second: the
 * microseconds are cut to 100 µs, not rounded, so an event never moves into
 * the next second (or the next day). gmtime_r: no dependence on TZ. */
static int format_dtm(int64_t utc_us, char ret[static DTM_MAX]) {
        struct utc_civil c;

        /* Not gmtime_r: a 32-bit time_t (armhf) ends in 2038. */
        civil_from_utc_us(utc_us, &c);
        if (c.year < 0 || c.year > 9999)
                return -EINVAL;
        snprintf(ret, DTM_MAX, "%04d%02u%02u%02u%02u%02u.%04u+0000", (int) c.year, c.month, c.day, c.hour,
                 c.minute, c.second, c.usec / 100);
        return 0;
}

static void obx_begin(struct message *m, const char *type, const char *ident, const char *sub_id) {
        fprintf(m->f, "OBX|%u|%s|%s|%s|", ++m->obx, type, ident, sub_id);
}

/* After OBX-5: OBX-6 units, OBX-11 result status, OBX-14 the time. */
static void obx_end(struct message *m, const char *units, const char *status) {
        fprintf(m->f, "|%s|||||%s|||%s", units ?: "", status, m->time);
}

/* A row of the channel: 1.1.<channel + 1>.n. */
static void metric_begin(struct message *m, const char *type, const char *ident, unsigned n) {
        char sub_id[64];

        snprintf(sub_id, sizeof sub_id, "1.1.%llu.%u", m->channel, n);
        obx_begin(m, type, ident, sub_id);
}

static void metric_ml(struct message *m, const char *ident, unsigned n, int64_t nl, const char *units) {
        metric_begin(m, "NM", ident, n);
        put_ml(m->f, nl);
        obx_end(m, units, "R");
        fputc('\r', m->f);
}

/* A coded value with only its text, as the IPEC tables give the states
 * ("^pump-status-infusing"). */
static void metric_state(struct message *m, const char *ident, unsigned n, const char *token) {
        metric_begin(m, "CWE", ident, n);
        fprintf(m->f, "^%s", token);
        obx_end(m, NULL, "R");
        fputc('\r', m->f);
}

/* Our program modes in IPEC's vocabulary (Appendix X uses -continuous,
 * -multi-step and -multi-dosing); volume-time delivers at one constant rate.
 * NULL: IPEC has no such mode, and the row carries our name as original
 * text (CWE-9) instead. */
static const char *ipec_mode(const char *mode) {
        if (streq(mode, "continuous") || streq(mode, "volume-time"))
                return "pump-program-delivery-mode-continuous";
        if (streq(mode, "multistep"))
                return "pump-program-delivery-mode-multi-step";
        if (streq(mode, "intermittent"))
                return "pump-program-delivery-mode-multi-dosing";
        return NULL;
}

static void write_message(FILE *f, const struct export_source *src, const struct db_infusion *inf, enum event ev,
                          const char *created, const char *event_time, const char *checkpoint_time, uint64_t seq) {
        static const char *const event_code[] = {
                [EVENT_START] = MDC_EVT_PUMP_DELIV_START,
                [EVENT_COMPLETE] = MDC_EVT_PUMP_DELIV_COMP,
                [EVENT_STOP] = MDC_EVT_PUMP_DELIV_STOP,
        };
        struct message m = { .f = f, .channel = (unsigned long long) inf->channel + 1, .time = event_time };
        bool start = ev == EVENT_START, library = inf->drug_id != NULL;
        int64_t volume = start ? 0 : inf->volume_nl;
        char chan_id[48];
        const char *mode;

        /* MSH-3 the pump by its EUI-64; MSH-10 unique per message; MSH-15
         * and -16: no accept acknowledgement, an application one always;
         * MSH-18: drug names are UTF-8. */
        fputs("MSH|^~\\&|INFUSIOND^", f);
        put_text(f, src->device_eui64);
        fprintf(f, "^EUI-64||||%s||ORU^R42^ORU_R01|", created);
        put_text(f, src->device_eui64);
        fprintf(f, "-%" PRIu64 "|P|2.6|||NE|AL||UNICODE UTF-8|||" PCD10_PROFILE "\r", seq);

        /* The pump does not know the patient, and IHE PCD lets the
         * identifiers be empty for a consumer to bind; PID-31 (Identity
         * Unknown Indicator) says so. PV1 is optional in ORU_R01 and left out. */
        fputs("PID|||||||||||||||||||||||||||||||Y\r", f);

        /* OBR-3, the filler order number, is the infusion (its row id under
         * this pump), so a consumer can pair a Start with its Stop; OBR-4
         * the event, for there is no order; OBR-7 when it happened. */
        fprintf(f, "OBR|1||%" PRIi64 "^INFUSIOND^", inf->id);
        put_text(f, src->device_eui64);
        fprintf(f, "^EUI-64|%s|||%s\r", event_code[ev], event_time);

        if (!start && streq(inf->status, "interrupted")) {
                fputs("NTE|1||Interrupted: delivery stopped while infusiond was not running;"
                      " the end time is when it started again", f);
                if (checkpoint_time)
                        fprintf(f, ", volume as last recorded at %s", checkpoint_time);
                fputs(".\r", f);
        }

        /* The device: MDS (OBX-18 the pump), then the event and its source,
         * as IPEC places them, then the VMD and the channel. */
        obx_begin(&m, "", MDC_DEV_PUMP_INFUS_MDS, "1.0.0.0");
        obx_end(&m, NULL, "X");
        fputs("||||", f);
        put_text(f, src->device_eui64);
        fputs("^^", f);
        put_text(f, src->device_eui64);
        fputs("^EUI-64\r", f);

        snprintf(chan_id, sizeof chan_id, "1.1.%llu.0", m.channel);
        obx_begin(&m, "CWE", MDC_ATTR_EVT_COND, "1.0.0.1");
        fputs(event_code[ev], f);
        obx_end(&m, NULL, "R");
        fputc('\r', f);
        obx_begin(&m, "ST", MDC_ATTR_EVT_SOURCE, "1.0.0.2");
        fputs(chan_id, f);
        obx_end(&m, NULL, "R");
        fputc('\r', f);

        obx_begin(&m, "", MDC_DEV_PUMP_INFUS_VMD, "1.1.0.0");
        obx_end(&m, NULL, "X");
        fputc('\r', f);
        obx_begin(&m, "", MDC_DEV_PUMP_INFUS_CHAN_DELIVERY, chan_id);
        obx_end(&m, NULL, "X");
        fputc('\r', f);

        /* The state IPEC requires with each delivery event. Our infusion
         * rows end with the motor still (completion with KVO ends the row
         * only when the KVO is stopped), so an end is never "infusing". A
         * Stop can only come from Channel.Stop, a person's command. */
        metric_state(&m, MDC_PUMP_INFUSING_STATUS, METRIC_INFUSING_STATUS,
                     start ? "pump-status-infusing" : "pump-status-not-infusing");
        metric_ml(&m, MDC_FLOW_FLUID_PUMP_CURRENT, METRIC_CURRENT_FLOW, start ? inf->rate_nl_per_h : 0,
                  UNIT_ML_PER_H);
        metric_state(&m, MDC_DEV_PUMP_CURRENT_DELIVERY_STATUS, METRIC_DELIVERY_STATUS,
                     start ? "pump-delivery-status-delivering" : "pump-delivery-status-not-delivering");
        if (!start)
                metric_state(&m, MDC_DEV_PUMP_NOT_DELIVERING_REASON, METRIC_NOT_DELIVERING_REASON,
                             streq(inf->status, "stopped") ? "pump-stopped-by-clinician"
                                                           : "pump-stopped-not-specified");
        mode = ipec_mode(inf->mode);
        metric_begin(&m, "CWE", MDC_DEV_PUMP_PROGRAM_DELIVERY_MODE, METRIC_DELIVERY_MODE);
        if (mode)
                fprintf(f, "^%s", mode);
        else {
                fputs("^^^^^^^^", f);
                put_text(f, inf->mode);
        }
        obx_end(&m, NULL, "R");
        fputc('\r', f);

        /* What is infused: a library drug as a local code (CWE-3 "L", the
         * drug library's id) with its name; a basic infusion by that name. */
        metric_begin(&m, "CWE", MDC_DRUG_NAME_TYPE, METRIC_DRUG);
        if (library) {
                put_text(f, inf->drug_id);
                fputc('^', f);
                put_text(f, inf->drug_name ?: "");
                fputs("^L", f);
        } else
                fputs("^basic infusion", f);
        obx_end(&m, NULL, "R");
        fputc('\r', f);

        metric_ml(&m, MDC_FLOW_FLUID_PUMP, METRIC_RATE, inf->rate_nl_per_h, UNIT_ML_PER_H);
        if (library && isfinite(inf->dose_rate)) {
                /* The library's unit ("mcg/kg/min", "units/h") as text
                 * only: we have no confirmed MDC code for most of them. */
                metric_begin(&m, "NM", MDC_RATE_DOSE, METRIC_DOSE_RATE);
                put_double(f, inf->dose_rate);
                fputc('|', f);
                if (inf->dose_unit) {
                        fputc('^', f);
                        put_text(f, inf->dose_unit);
                }
                fprintf(f, "|||||R|||%s\r", event_time);
        }
        metric_ml(&m, MDC_VOL_FLUID_TBI, METRIC_VTBI, inf->vtbi_nl, UNIT_ML);
        metric_ml(&m, MDC_VOL_FLUID_DELIV_TOTAL, METRIC_VOLUME_DELIVERED, volume, UNIT_ML);
        metric_ml(&m, MDC_VOL_FLUID_TBI_REMAIN, METRIC_VOLUME_REMAINING,
                  inf->vtbi_nl > volume ? inf->vtbi_nl - volume : 0, UNIT_ML);

        /* The segment already ended with '\r': '\n' ends the message, for
         * readers that go line by line. */
        fputc('\n', f);
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Each message is composed in memory and handed to out in one write, so a
 * row refused half-way writes nothing, and a failed write is seen here
 * (out's buffer may still hold it: the caller's fflush/fclose is the last
 * word). */
static int emit(FILE *out, const struct export_source *src, const struct db_infusion *inf, enum event ev,
                const char *created, const char *event_time, const char *checkpoint_time, uint64_t seq) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        _cleanup_(fclosep) FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        write_message(f, src, inf, ev, created, event_time, checkpoint_time, seq);
        if (ferror(f))
                return -ENOMEM;
        if (fclose(TAKE_PTR(f)) != 0)
                return -ENOMEM;
        if (fwrite(buf, 1, size, out) != size || ferror(out))
                return -EIO;
        return 0;
}

int export_hl7_infusion(FILE *out, const struct export_source *src, const struct db_infusion *inf,
                        int64_t created_utc_us, uint64_t *message_seq) {
        char created[DTM_MAX], started[DTM_MAX], ended[DTM_MAX], checkpoint[DTM_MAX];
        bool has_checkpoint = false;
        enum event end;
        int r;

        if (!out || !src || !src->device_eui64 || !inf || !message_seq || !inf->status || !inf->mode)
                return -EINVAL;
        if (streq(inf->status, "active"))
                end = EVENT_START;      /* none yet */
        else if (streq(inf->status, "completed"))
                end = EVENT_COMPLETE;
        else if (streq(inf->status, "stopped") || streq(inf->status, "interrupted"))
                end = EVENT_STOP;
        else
                return -EINVAL;
        /* Volumes and rates are counts of nL: a negative one is no
         * infusion we recorded. */
        if (inf->rate_nl_per_h < 0 || inf->vtbi_nl < 0 || inf->volume_nl < 0)
                return -EINVAL;

        /* Every check before the first byte is written. */
        r = format_dtm(created_utc_us, created);
        if (r < 0)
                return r;
        r = format_dtm(inf->started_utc_us, started);
        if (r < 0)
                return r;
        if (end != EVENT_START) {
                if (inf->ended_utc_us == 0)
                        return -EINVAL;         /* ended, but not when */
                r = format_dtm(inf->ended_utc_us, ended);
                if (r < 0)
                        return r;
                has_checkpoint = inf->checkpoint_utc_us > 0 && format_dtm(inf->checkpoint_utc_us, checkpoint) == 0;
        }

        r = emit(out, src, inf, EVENT_START, created, started, NULL, *message_seq);
        if (r < 0)
                return r;
        (*message_seq)++;
        if (end == EVENT_START)
                return 1;

        r = emit(out, src, inf, end, created, ended, has_checkpoint ? checkpoint : NULL, *message_seq);
        if (r < 0)
                return r;
        (*message_seq)++;
        return 2;
}
