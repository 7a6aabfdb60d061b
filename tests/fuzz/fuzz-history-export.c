/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the history exports (db/export-hl7.c, db/export-fhir.c)
 * fed the way History.Export and `infusionctl export` feed them: rows
 * written to a real SQLite history through db/ and read back by
 * db_infusions_list().
 *
 * The input decodes into up to four infusions (mode, channel, rates and
 * volumes, times, drug strings, how each ended) and a query (time range,
 * drug filter). Checked for every row the query returns:
 * - it matches the query (time overlap, drug id or name, ASCII case
 *   folded as SQLite's NOCASE does);
 * - HL7: 1 message for an open infusion and 2 for an ended one, or
 *   -EINVAL and nothing written; each message is segments ending in '\r'
 *   and the message in "\r\n", each segment a known id then '|', the same
 *   number of fields whatever the text (escaping holds), and the drug's id
 *   and name read back from OBX-5 after unescaping;
 * - FHIR: the Bundle parses as strict, UTF-8-valid JSON with one entry per
 *   row added (plus the Device), and each drug id reads back as its code. */

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/macros.h"
#include "db/db.h"
#include "db/export.h"
#include "tests/fuzz/fuzz-util.h"

#define INFUSIONS_MAX 4
#define TEXT_MAX 80
/* A fresh database now and then keeps the file (and each query) small. */
#define RUNS_PER_DATABASE 2000
/* 2024-01-01T00:00:00Z: where plausible times start. */
#define EPOCH_2024_US INT64_C(1704067200000000)

static const struct export_source source = { .device_eui64 = "0123456789ABCDEF", .software_version = "fuzz" };

static struct db *db;
static char db_path[600];
static unsigned db_runs;

static void open_db(void) {
        if (db && db_runs++ < RUNS_PER_DATABASE)
                return;
        db = db_close(db);
        db_runs = 0;
        if (!db_path[0])
                snprintf(db_path, sizeof db_path, "%s/history.db", fuzz_scratch_dir("fuzz-history-export"));
        const char *const suffixes[] = { "", "-wal", "-shm" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                char p[640];
                snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
                (void) unlink(p);
        }
        int r = db_open(db_path, &db);
        FUZZ_CHECK(r >= 0, "db_open %s: %s", db_path, strerror(-r));
}

/* A time in µs: mostly plausible (2024 on, to the µs), sometimes any. */
static int64_t fuzz_time_us(struct fuzz_input *in) {
        if (fuzz_u8(in) % 8 == 7)
                return (int64_t) fuzz_u64(in);
        return EPOCH_2024_US + (int64_t) fuzz_u32(in) * 1009;
}

/* nL or nL/h: mostly a plausible count, sometimes any int64. */
static int64_t fuzz_amount(struct fuzz_input *in) {
        if (fuzz_u8(in) % 8 == 7)
                return (int64_t) fuzz_u64(in);
        return (int64_t) fuzz_u32(in) * 10;
}

/* A string the daemon could have stored (valid UTF-8, from the library or
 * D-Bus), or NULL. */
static const char *fuzz_text(struct fuzz_input *in, const char *const *words, size_t n, char buf[static TEXT_MAX]) {
        if (fuzz_u8(in) % 4 == 0)
                return NULL;
        const char *s = fuzz_word(in, words, n, buf, TEXT_MAX);
        if (s == buf)
                fuzz_utf8_sanitize(buf);
        return s;
}

/* Undo HL7 escapes (\F\ \S\ \R\ \E\ \T\ \Xhh\) of one component. */
static void hl7_unescape(const char *s, size_t len, char *out, size_t size) {
        size_t o = 0;

        for (size_t i = 0; i < len && o + 1 < size; i++) {
                if (s[i] != '\\') {
                        out[o++] = s[i];
                        continue;
                }
                const char *end = memchr(s + i + 1, '\\', len - i - 1);
                FUZZ_CHECK(end, "unterminated escape in %.*s", (int) len, s);
                size_t n = (size_t) (end - (s + i + 1));
                const char *e = s + i + 1;
                char c;
                if (n == 1 && strchr("FSRET", *e))
                        c = "|^~\\&"[strchr("FSRET", *e) - "FSRET"];
                else if (n == 3 && *e == 'X') {
                        char hex[3] = { e[1], e[2], 0 };
                        c = (char) strtoul(hex, NULL, 16);
                } else
                        FUZZ_CHECK(false, "unknown escape %.*s", (int) n, e);
                out[o++] = c;
                i += n + 1;
        }
        out[o] = '\0';
}

/* Field n (0: the segment id) of a segment, and its length. */
static const char *hl7_field(const char *seg, size_t seg_len, unsigned n, size_t *ret_len) {
        const char *p = seg, *end = seg + seg_len;

        for (unsigned i = 0; i < n; i++) {
                p = memchr(p, '|', (size_t) (end - p));
                if (!p)
                        return NULL;
                p++;
        }
        const char *q = memchr(p, '|', (size_t) (end - p));
        *ret_len = (size_t) ((q ? q : end) - p);
        return p;
}

static unsigned count_char(const char *s, size_t len, char c) {
        unsigned n = 0;
        for (size_t i = 0; i < len; i++)
                n += s[i] == c;
        return n;
}

static void check_hl7(const char *text, size_t size, int messages, const struct db_infusion *inf) {
        /* Fields per segment: fixed by the layout, whatever the text. */
        static const struct { const char *id; unsigned bars[2]; } layout[] = {
                { "MSH", { 20, 20 } },
                { "PID", { 31, 31 } },
                { "OBR", { 7, 7 } },
                { "NTE", { 3, 3 } },
                { "OBX", { 14, 18 } },  /* the MDS row also carries OBX-18 */
        };
        const char *p = text, *end = text + size;
        int seen = 0;
        bool drug_seen = false;

        FUZZ_CHECK(strlen(text) == size, "NUL inside the HL7 text");
        while (p < end) {
                const char *msg_end = strstr(p, "\r\n");
                FUZZ_CHECK(msg_end, "message does not end in CR LF");
                FUZZ_CHECK(strncmp(p, "MSH|", 4) == 0, "message does not start with MSH");
                seen++;
                for (const char *seg = p; seg < msg_end + 1;) {
                        const char *seg_end = memchr(seg, '\r', (size_t) (msg_end + 1 - seg));
                        size_t len = (size_t) (seg_end - seg);
                        FUZZ_CHECK(!memchr(seg, '\n', len), "LF inside a segment");
                        size_t k;
                        for (k = 0; k < ELEMENTSOF(layout); k++)
                                if (len > 3 && strncmp(seg, layout[k].id, 3) == 0 && seg[3] == '|')
                                        break;
                        FUZZ_CHECK(k < ELEMENTSOF(layout), "unknown segment %.*s", (int) len, seg);
                        unsigned bars = count_char(seg, len, '|');
                        FUZZ_CHECK(bars == layout[k].bars[0] || bars == layout[k].bars[1],
                                   "%s has %u fields: %.*s", layout[k].id, bars, (int) len, seg);
                        for (size_t i = 0; i < len; i++)
                                FUZZ_CHECK((unsigned char) seg[i] >= 0x20 && seg[i] != 0x7f,
                                           "control character in %.*s", (int) len, seg);

                        size_t f3_len, f5_len;
                        const char *f3 = hl7_field(seg, len, 3, &f3_len);
                        if (k == 4 && f3 && strncmp(f3, "184330^", 7) == 0 && inf->drug_id) {
                                /* drug id ^ name ^ L, each escaped. */
                                const char *f5 = hl7_field(seg, len, 5, &f5_len);
                                FUZZ_CHECK(f5 && count_char(f5, f5_len, '^') == 2, "drug field %.*s", (int) f5_len,
                                           f5);
                                const char *c1 = memchr(f5, '^', f5_len), *c2 = memchr(c1 + 1, '^',
                                                                                    f5_len - (size_t) (c1 + 1 - f5));
                                char id[4 * TEXT_MAX], name[4 * TEXT_MAX];
                                hl7_unescape(f5, (size_t) (c1 - f5), id, sizeof id);
                                hl7_unescape(c1 + 1, (size_t) (c2 - c1 - 1), name, sizeof name);
                                FUZZ_CHECK(streq(id, inf->drug_id), "drug id %s came back as %s", inf->drug_id, id);
                                FUZZ_CHECK(streq(name, inf->drug_name ?: ""), "drug name %s came back as %s",
                                           inf->drug_name ?: "", name);
                                FUZZ_CHECK(c2[1] == 'L' && c2 + 2 == f5 + f5_len, "drug coding system");
                                drug_seen = true;
                        }
                        seg = seg_end + 1;
                }
                p = msg_end + 2;
        }
        FUZZ_CHECK(seen == messages, "%d messages written, %d returned", seen, messages);
        FUZZ_CHECK(!inf->drug_id || drug_seen, "no drug row for a library infusion");
}

struct query {
        const char *drug;
        int64_t since_us, until_us;
        struct export_fhir *fhir;
        unsigned fhir_added;
        unsigned rows;
        char drug_ids[DB_PAGE_MAX][TEXT_MAX];
        int64_t fhir_ids[DB_PAGE_MAX];
};

static int row(const struct db_infusion *inf, void *userdata) {
        struct query *q = userdata;
        _cleanup_(freep) char *text = NULL;
        size_t size = 0;

        q->rows++;
        FUZZ_CHECK(inf->started_utc_us < q->until_us &&
                   (streq(inf->status, "active") || inf->ended_utc_us >= q->since_us),
                   "row %" PRId64 " outside the range", inf->id);
        if (q->drug)
                FUZZ_CHECK((inf->drug_id && strcasecmp(inf->drug_id, q->drug) == 0) ||
                           (inf->drug_name && strcasecmp(inf->drug_name, q->drug) == 0),
                           "row %" PRId64 " does not match drug %s", inf->id, q->drug);

        FILE *f = open_memstream(&text, &size);
        FUZZ_CHECK(f, "open_memstream");
        uint64_t seq = (uint64_t) inf->id * 2;
        int r = export_hl7_infusion(f, &source, inf, EPOCH_2024_US, &seq);
        FUZZ_CHECK(fclose(f) == 0, "fclose");
        bool open = streq(inf->status, "active");
        /* FUZZ_VERBOSE=1: show each row's export (to sort seeds). */
        if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "row %" PRId64 " %s %s drug %s: HL7 %d, %zu bytes\n", inf->id, inf->status,
                        inf->mode, inf->drug_id ?: "-", r, size);
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL, "HL7 export failed with %d", r);
                FUZZ_CHECK(size == 0, "a refused row wrote %zu bytes", size);
        } else {
                FUZZ_CHECK(r == (open ? 1 : 2), "%d messages for a %s infusion", r, inf->status);
                FUZZ_CHECK(seq == (uint64_t) inf->id * 2 + (uint64_t) r, "message numbers not advanced");
                check_hl7(text, size, r, inf);
        }

        r = export_fhir_add(q->fhir, inf);
        FUZZ_CHECK(r >= 0 || r == -EINVAL, "FHIR export failed with %d", r);
        if (r >= 0 && q->fhir_added < DB_PAGE_MAX) {
                snprintf(q->drug_ids[q->fhir_added], TEXT_MAX, "%s", inf->drug_id ?: "");
                q->fhir_ids[q->fhir_added] = inf->id;
                q->fhir_added++;
        }
        return 0;
}

static void check_fhir(struct query *q) {
        const char *text = export_fhir_json(q->fhir);
        FUZZ_CHECK(text, "no FHIR text");

        struct json_tokener *tok = json_tokener_new();
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
        struct json_object *root = json_tokener_parse_ex(tok, text, (int) strlen(text));
        FUZZ_CHECK(root && json_tokener_get_error(tok) == json_tokener_success, "FHIR is not JSON: %s\n%s",
                   json_tokener_error_desc(json_tokener_get_error(tok)), text);
        json_tokener_free(tok);

        struct json_object *v, *entries;
        FUZZ_CHECK(json_object_object_get_ex(root, "resourceType", &v) && streq(json_object_get_string(v), "Bundle"),
                   "not a Bundle");
        FUZZ_CHECK(json_object_object_get_ex(root, "entry", &entries) &&
                   json_object_array_length(entries) == 1 + (size_t) q->fhir_added,
                   "%zu entries for %u infusions", json_object_array_length(entries), q->fhir_added);
        for (unsigned i = 0; i < q->fhir_added; i++) {
                struct json_object *res, *med, *coding;
                FUZZ_CHECK(json_object_object_get_ex(json_object_array_get_idx(entries, i + 1), "resource", &res) &&
                           json_object_object_get_ex(res, "medicationCodeableConcept", &med), "entry %u", i);
                if (!q->drug_ids[i][0])
                        continue;
                FUZZ_CHECK(json_object_object_get_ex(med, "coding", &coding) &&
                           json_object_object_get_ex(json_object_array_get_idx(coding, 0), "code", &v),
                           "entry %u has no drug code", i);
                /* Compared as far as the copy kept it. */
                FUZZ_CHECK(strncmp(json_object_get_string(v), q->drug_ids[i], TEXT_MAX - 1) == 0,
                           "drug %s came back as %s", q->drug_ids[i], json_object_get_string(v));
        }
        json_object_put(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const modes[] = { "continuous", "volume-time", "multistep", "loading",
                                             "intermittent", "ramp", "pca" };
        static const char *const statuses[] = { "completed", "stopped", "interrupted", "active", "" };
        static const char *const drugs[] = { "heparin", "Heparin", "morphine-pca", "insulin", "a|b^c~d\\e&f",
                                             "é", "\r\n" };
        static const char *const units[] = { "units/h", "mcg/kg/min", "mg/h", "mL/h" };
        static const char *const areas[] = { "ICU", "Med-Surg", "Pediatrics" };
        static struct query q;
        char bufs[INFUSIONS_MAX][7][TEXT_MAX], mode_buf[TEXT_MAX], status_buf[TEXT_MAX], drug_buf[TEXT_MAX];
        struct fuzz_input in = { data, size };
        int64_t first_id = 0;
        int r;

        if (size > 4096)
                return -1;
        open_db();

        unsigned n = 1 + fuzz_u8(&in) % INFUSIONS_MAX;
        for (unsigned i = 0; i < n; i++) {
                /* One statement per field: the order of evaluation inside
                 * an initializer list is unspecified, and the bytes must be
                 * read in the order the seeds were written. */
                struct db_infusion inf = {};
                inf.mode = fuzz_word(&in, modes, ELEMENTSOF(modes), mode_buf, sizeof mode_buf);
                inf.channel = fuzz_u8(&in) % 4;
                inf.rate_nl_per_h = fuzz_amount(&in);
                inf.vtbi_nl = fuzz_amount(&in);
                inf.kvo_rate_nl_per_h = fuzz_amount(&in);
                inf.volume_nl = fuzz_amount(&in);
                inf.started_utc_us = fuzz_time_us(&in);
                inf.started_mono_us = (int64_t) fuzz_u32(&in);
                inf.care_area = fuzz_text(&in, areas, ELEMENTSOF(areas), bufs[i][0]);
                inf.drug_id = fuzz_text(&in, drugs, ELEMENTSOF(drugs), bufs[i][1]);
                inf.drug_name = fuzz_text(&in, drugs, ELEMENTSOF(drugs), bufs[i][2]);
                inf.dose_rate = fuzz_double(&in);
                inf.dose_unit = fuzz_text(&in, units, ELEMENTSOF(units), bufs[i][3]);
                inf.concentration = fuzz_text(&in, NULL, 0, bufs[i][4]);
                inf.library_sha256 = fuzz_text(&in, NULL, 0, bufs[i][5]);
                int64_t id;
                if (inf.mode == mode_buf)
                        fuzz_utf8_sanitize(mode_buf);
                r = db_infusion_begin(db, &inf, &id);
                FUZZ_CHECK(r >= 0 || r == -EINVAL, "db_infusion_begin: %d %s", r, db_last_error(db));
                if (r < 0)
                        continue;       /* a value the schema refuses: not a row */
                if (!first_id)
                        first_id = id;

                uint8_t end = fuzz_u8(&in);
                if (end & 1)
                        (void) db_infusion_checkpoint(db, id, fuzz_amount(&in), fuzz_time_us(&in));
                if (end & 2) {
                        const char *status = fuzz_word(&in, statuses, ELEMENTSOF(statuses), status_buf,
                                                       sizeof status_buf);
                        r = db_infusion_end(db, id, status, fuzz_amount(&in), fuzz_time_us(&in));
                        FUZZ_CHECK(r >= 0 || r == -EINVAL, "db_infusion_end: %d %s", r, db_last_error(db));
                }
        }
        if (!first_id)
                return 0;

        /* A range db_infusions_list() takes: 0 <= since < until. */
        q = (struct query) { .until_us = INT64_MAX };
        if (fuzz_u8(&in) % 2) {
                int64_t since_us = fuzz_time_us(&in) & INT64_MAX;
                q.since_us = MIN(since_us, INT64_MAX - 1);
        }
        uint8_t filter = fuzz_u8(&in);
        if (filter % 4 == 1)
                q.drug = fuzz_word(&in, drugs, ELEMENTSOF(drugs), drug_buf, sizeof drug_buf);
        if (filter % 4 == 2) {
                int64_t span_us = 1 + (int64_t) fuzz_u32(&in) * 1000;
                q.until_us = q.since_us > INT64_MAX - span_us ? INT64_MAX : q.since_us + span_us;
        }
        r = export_fhir_new(&source, EPOCH_2024_US, &q.fhir);
        FUZZ_CHECK(r >= 0, "export_fhir_new: %d", r);

        const struct db_page page = {
                .since_utc_us = q.since_us,
                .until_utc_us = q.until_us,
                .after_id = first_id - 1,
                .limit = DB_PAGE_MAX,
        };
        int64_t next;
        r = db_infusions_list(db, &page, q.drug, row, &q, &next);
        FUZZ_CHECK(r >= 0 && (unsigned) r == q.rows, "db_infusions_list: %d (%u rows) since %" PRId64 " until %" PRId64 " after %" PRId64 ": %s", r,
                   q.rows, page.since_utc_us, page.until_utc_us, page.after_id, db_last_error(db));
        check_fhir(&q);
        q.fhir = export_fhir_free(q.fhir);
        return 0;
}
