/* SPDX-License-Identifier: MIT */
/* The history as readers see it (schema 6): the audit hash chain and its
 * verification, read-only opening, and paged reading. Real SQLite files. */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "common/macros.h"
#include "db/db.h"
#include "db-undo-schema.h"

struct fixture {
        char dir[512];
        char path[600];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s/test-db-history-XXXXXX", getenv("TMPDIR") ?: "/tmp");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/history.db", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void db_closep(struct db **d) {
        *d = db_close(*d);
}

static void sqlite_closep(sqlite3 **s) {
        sqlite3_close(*s);
}

#define T0_UTC_US INT64_C(1700000000123456)

static void add_audit_rows(struct db *d, int n) {
        for (int i = 0; i < n; i++) {
                char args[32];
                snprintf(args, sizeof args, "rate=%d", i);
                assert_int_equal(db_audit_add(d, &(struct db_audit) {
                        .utc_us = T0_UTC_US + i, .uid = i % 2 ? 1000 : -1, .method = "Channel.Program",
                        .object = "/org/infusiond/pump1/channel/0", .args = args,
                        .outcome = i == 2 ? "org.infusiond.pump1.Error.HardLimit" : "ok",
                        .message = i == 2 ? "line one\nline two; 3:4" : NULL }), 0);
        }
}

static void exec_raw(const char *path, const char *sql) {
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        char *err = NULL;
        assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
        if (sqlite3_exec(raw, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, err);
}

static int exec_raw_rc(const char *path, const char *sql) {
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
        return sqlite3_exec(raw, sql, NULL, NULL, NULL);
}

static void verify_intact(struct db *d, uint64_t rows) {
        struct db_audit_check c;
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.broken_id, 0);
        assert_int_equal(c.rows, rows);
}

static void an_intact_chain_verifies_and_its_head_is_the_newest_row(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_audit_check c;
        char head[65];
        int64_t head_id;

        assert_int_equal(db_open(f->path, &d), 0);
        verify_intact(d, 0);
        add_audit_rows(d, 6);
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.rows, 6);
        assert_int_equal(c.anchor_id, 0);
        assert_int_equal(c.head_id, 6);
        assert_int_equal(db_audit_head(d, &head_id, head), 0);
        assert_int_equal(head_id, 6);
        assert_string_equal(head, c.head_sha256);
}

/* The bytes docs/SCHEMA.md documents, computed here independently. */
static void sha256_hex(const char *data, size_t n, char ret[65]) {
        unsigned char md[32];
        unsigned len = 0;
        assert_int_equal(EVP_Digest(data, n, md, &len, EVP_sha256(), NULL), 1);
        for (int i = 0; i < 32; i++)
                sprintf(ret + 2 * i, "%02x", md[i]);
}

static void the_chain_hash_is_the_documented_encoding(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        sqlite3_stmt *st;
        char expect1[65], expect3[65], buf[512];
        int n;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 3);

        /* Row 1: anchor zeros; uid NULL is "-;". */
        n = snprintf(buf, sizeof buf, "%064d" "1:1;16:%lld;-;15:Channel.Program;30:/org/infusiond/pump1/channel/0;"
                     "6:rate=0;2:ok;-;", 0, (long long) T0_UTC_US);
        sha256_hex(buf, (size_t) n, expect1);
        assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(raw, "SELECT chain_sha256 FROM audit ORDER BY id", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), expect1);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        char row2[65];
        snprintf(row2, sizeof row2, "%s", (const char *) sqlite3_column_text(st, 0));
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        /* Row 3 has a message with a newline, a ';' and a ':' in it: the
         * length prefix, not a separator, delimits it. */
        n = snprintf(buf, sizeof buf, "%s1:3;16:%lld;-;15:Channel.Program;30:/org/infusiond/pump1/channel/0;"
                     "6:rate=2;35:org.infusiond.pump1.Error.HardLimit;22:line one\nline two; 3:4;",
                     row2, (long long) T0_UTC_US + 2);
        sha256_hex(buf, (size_t) n, expect3);
        assert_string_equal((const char *) sqlite3_column_text(st, 0), expect3);
        sqlite3_finalize(st);
}

static void a_changed_byte_names_that_row(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_audit_check c;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 6);
        /* Whoever can write the file can drop the guard: the chain is what
         * must catch it. One byte: 'o' -> 'a'. */
        exec_raw(f->path, "DROP TRIGGER audit_no_update;"
                          "UPDATE audit SET method = 'Channel.Pragram' WHERE id = 4;");
        assert_int_equal(db_audit_verify(d, &c), 1);
        assert_int_equal(c.broken_id, 4);
        assert_int_equal(c.head_id, 3);
        assert_int_equal(c.rows, 3);
        assert_non_null(strstr(c.reason, "row 4"));
}

/* Row 2 changed, and given the right hash for its new content (anyone
 * can compute it): row 2 verifies, and row 3 no longer follows from it. */
static void a_changed_row_with_a_recomputed_hash_breaks_the_next_row(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct db_audit_check c;
        sqlite3_stmt *st;
        char prev[65], buf[512], hash[65], sql[256];
        int n;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 5);
        assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(raw, "SELECT chain_sha256 FROM audit WHERE id = 1", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        snprintf(prev, sizeof prev, "%s", (const char *) sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        /* row 2 as add_audit_rows wrote it (uid 1000), its args now rate=9 */
        n = snprintf(buf, sizeof buf, "%s1:2;16:%lld;4:1000;15:Channel.Program;30:/org/infusiond/pump1/channel/0;"
                     "6:rate=9;2:ok;-;", prev, (long long) T0_UTC_US + 1);
        sha256_hex(buf, (size_t) n, hash);
        snprintf(sql, sizeof sql, "DROP TRIGGER audit_no_update;"
                 "UPDATE audit SET args = 'rate=9', chain_sha256 = '%s' WHERE id = 2;", hash);
        assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(db_audit_verify(d, &c), 1);
        assert_int_equal(c.broken_id, 3);
        assert_int_equal(c.head_id, 2);
}

static void a_deleted_row_shows_as_a_gap(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_audit_check c;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 5);
        /* The schema refuses it... */
        assert_int_not_equal(exec_raw_rc(f->path, "DELETE FROM audit WHERE id = 3"), SQLITE_OK);
        verify_intact(d, 5);
        /* ...until the guard is dropped; then the chain shows it. */
        exec_raw(f->path, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE id = 3;");
        assert_int_equal(db_audit_verify(d, &c), 1);
        assert_int_equal(c.broken_id, 4);
        assert_non_null(strstr(c.reason, "missing"));
}

static void the_schema_refuses_unchained_and_out_of_order_rows_and_a_backward_anchor(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 3);
        assert_int_not_equal(exec_raw_rc(f->path, "INSERT INTO audit (utc_us, method, object, outcome)"
                                                  " VALUES (1, 'm', 'o', 'ok')"), SQLITE_OK);
        assert_int_not_equal(exec_raw_rc(f->path, "INSERT INTO audit (id, utc_us, method, object, outcome,"
                                                  " chain_sha256) VALUES (2, 1, 'm', 'o', 'ok', printf('%064d', 0))"),
                             SQLITE_OK);
        /* the anchor moves only onto a row, with that row's hash */
        assert_int_not_equal(exec_raw_rc(f->path, "UPDATE audit_anchor SET audit_id = 2"), SQLITE_OK);
        assert_int_equal(exec_raw_rc(f->path, "UPDATE audit_anchor SET audit_id = 2,"
                                              " chain_sha256 = (SELECT chain_sha256 FROM audit WHERE id = 2)"),
                         SQLITE_OK);
        assert_int_not_equal(exec_raw_rc(f->path, "UPDATE audit_anchor SET audit_id = 1,"
                                                  " chain_sha256 = (SELECT chain_sha256 FROM audit WHERE id = 1)"),
                             SQLITE_OK);
        assert_int_not_equal(exec_raw_rc(f->path, "DELETE FROM audit_anchor"), SQLITE_OK);
        /* rows at or before the anchor may go (retention), the rest not */
        assert_int_equal(exec_raw_rc(f->path, "DELETE FROM audit WHERE id <= 2"), SQLITE_OK);
        assert_int_not_equal(exec_raw_rc(f->path, "DELETE FROM audit WHERE id = 3"), SQLITE_OK);
        verify_intact(d, 1);
        add_audit_rows(d, 1);
        verify_intact(d, 2);
}

/* A schema 5 file with audit rows: the migration chains them. */
static void a_version_5_file_chains_its_audit_rows_when_migrated(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_audit_check c;

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 4);
        d = db_close(d);
        exec_raw(f->path, UNDO_SCHEMA_6);

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_schema_version(d), 6);
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.rows, 4);
        assert_int_equal(c.head_id, 4);
        /* and the update guard is back */
        assert_int_not_equal(exec_raw_rc(f->path, "UPDATE audit SET args = 'x' WHERE id = 1"), SQLITE_OK);
        add_audit_rows(d, 1);
        verify_intact(d, 5);
}

static void a_read_only_handle_reads_and_can_never_write(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL, *ro = NULL, *missing = NULL;
        char other[700];

        assert_int_equal(db_open(f->path, &d), 0);
        add_audit_rows(d, 2);
        assert_int_equal(db_open_readonly(f->path, &ro), 0);
        verify_intact(ro, 2);
        assert_int_equal(db_event_add(ro, &(struct db_event) { .utc_us = 1, .kind = "startup" }), -EROFS);
        assert_int_equal(db_audit_add(ro, &(struct db_audit) { .utc_us = 1, .method = "m", .object = "o",
                                                               .outcome = "ok" }), -EROFS);
        /* the writer goes on, and the reader sees it */
        add_audit_rows(d, 1);
        verify_intact(ro, 3);

        snprintf(other, sizeof other, "%s/none.db", f->dir);
        assert_int_equal(db_open_readonly(other, &missing), -ENOENT);
        assert_null(missing);
        exec_raw(f->path, "PRAGMA user_version = 7");
        ro = db_close(ro);
        assert_int_equal(db_open_readonly(f->path, &ro), -EPROTO);
        assert_null(ro);
}

/* A path with URI specials must still name the file, not a query. */
static void a_read_only_path_with_uri_characters_opens_that_file(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL, *ro = NULL;
        char path[700];

        snprintf(path, sizeof path, "%s/odd?name#1%%20.db", f->dir);
        assert_int_equal(db_open(path, &d), 0);
        add_audit_rows(d, 1);
        assert_int_equal(db_open_readonly(path, &ro), 0);
        verify_intact(ro, 1);
        ro = db_close(ro);
        /* "//dir/file" is a path, not "file://dir" with an authority */
        char doubled[720];
        snprintf(doubled, sizeof doubled, "/%s", path);
        assert_int_equal(db_open_readonly(doubled, &ro), 0);
        verify_intact(ro, 1);
}

struct collected {
        int64_t ids[64];
        size_t n;
        char drug[32];
};

static int collect_infusion(const struct db_infusion *inf, void *userdata) {
        struct collected *c = userdata;
        assert_true(c->n < ELEMENTSOF(c->ids));
        c->ids[c->n++] = inf->id;
        snprintf(c->drug, sizeof c->drug, "%s", inf->drug_name ?: "");
        return 0;
}

static int collect_event(const struct db_event *e, void *userdata) {
        struct collected *c = userdata;
        c->ids[c->n++] = e->id;
        return 0;
}

static int collect_alarm(const struct db_alarm_event *e, void *userdata) {
        struct collected *c = userdata;
        c->ids[c->n++] = e->id;
        assert_string_equal(e->condition, "occlusion-downstream");
        assert_true(isnan(e->pressure_mmhg) || e->pressure_mmhg == 310.5);
        return 0;
}

static int stop_at_two(const struct db_infusion *inf, void *userdata) {
        struct collected *c = userdata;
        c->ids[c->n++] = inf->id;
        return c->n == 2 ? -ECANCELED : 0;
}

/* 25 infusions an hour apart, each 30 min long; number 7 still runs. */
static void fill_infusions(struct db *d, int64_t ids[25]) {
        for (int i = 0; i < 25; i++) {
                const int64_t start = T0_UTC_US + i * INT64_C(3600000000);
                struct db_infusion inf = {
                        .mode = "continuous", .rate_nl_per_h = 25000000, .vtbi_nl = 5000000,
                        .started_utc_us = start, .started_mono_us = 1, .care_area = "ICU",
                        .drug_id = i % 3 == 0 ? "heparin" : NULL,
                        .drug_name = i % 3 == 0 ? "Heparin" : NULL, .dose_rate = i % 3 == 0 ? 1000 : NAN,
                        .dose_unit = i % 3 == 0 ? "units/h" : NULL,
                };
                assert_int_equal(db_infusion_begin(d, &inf, &ids[i]), 0);
                assert_int_equal(db_event_add(d, &(struct db_event) { .infusion_id = ids[i], .utc_us = start,
                                                                      .kind = "state", .to_state = "running" }), 0);
                assert_int_equal(db_alarm_event_add(d, &(struct db_alarm_event) {
                        .alarm_id = "x", .seq = (unsigned) i + 1, .infusion_id = ids[i], .action = "raised",
                        .condition = "occlusion-downstream", .priority = "high", .utc_us = start + 60000000,
                        .uid = -1, .pressure_mmhg = i % 2 ? 310.5 : NAN }), 0);
                if (i != 7)
                        assert_int_equal(db_infusion_end(d, ids[i], "completed", 5000000,
                                                         start + INT64_C(1800000000)), 0);
        }
}

static void infusions_page_by_id_and_select_by_overlap(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        int64_t ids[25];
        struct collected c = {};
        struct db_page page = { .since_utc_us = 0, .until_utc_us = INT64_MAX, .limit = 10 };
        int64_t next = -1;

        assert_int_equal(db_open(f->path, &d), 0);
        fill_infusions(d, ids);

        assert_int_equal(db_infusions_list(d, &page, NULL, collect_infusion, &c, &next), 10);
        assert_int_equal(next, c.ids[9]);
        page.after_id = next;
        assert_int_equal(db_infusions_list(d, &page, NULL, collect_infusion, &c, &next), 10);
        assert_int_equal(next, c.ids[19]);
        page.after_id = next;
        assert_int_equal(db_infusions_list(d, &page, NULL, collect_infusion, &c, &next), 5);
        assert_int_equal(next, 0);
        for (int i = 0; i < 25; i++)
                assert_int_equal(c.ids[i], ids[i]);

        /* [start of 10 + 45 min, start of 12): 10 ended at +30 min, so not
         * it; 11 yes; 7 still runs, so it overlaps anything after its start. */
        c = (struct collected) {};
        page = (struct db_page) { .since_utc_us = T0_UTC_US + 10 * INT64_C(3600000000) + 2700000000,
                                  .until_utc_us = T0_UTC_US + 12 * INT64_C(3600000000), .limit = 100 };
        assert_int_equal(db_infusions_list(d, &page, NULL, collect_infusion, &c, &next), 2);
        assert_int_equal(c.ids[0], ids[7]);
        assert_int_equal(c.ids[1], ids[11]);

        /* by drug, any case, id or name */
        c = (struct collected) {};
        page = (struct db_page) { .until_utc_us = INT64_MAX, .limit = 100 };
        assert_int_equal(db_infusions_list(d, &page, "HEPARIN", collect_infusion, &c, &next), 9);
        assert_string_equal(c.drug, "Heparin");

        /* a callback can stop the walk */
        c = (struct collected) {};
        assert_int_equal(db_infusions_list(d, &page, NULL, stop_at_two, &c, &next), -ECANCELED);
        assert_int_equal(c.n, 2);
}

static void events_and_alarms_page_by_time_and_infusion(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        int64_t ids[25];
        struct collected c = {};
        struct db_page page = { .since_utc_us = T0_UTC_US + 3 * INT64_C(3600000000),
                                .until_utc_us = T0_UTC_US + 6 * INT64_C(3600000000), .limit = 100 };
        int64_t next = -1;

        assert_int_equal(db_open(f->path, &d), 0);
        fill_infusions(d, ids);
        /* events at the starts of 3, 4, 5 (the end is excluded) */
        assert_int_equal(db_events_list(d, &page, 0, collect_event, &c, &next), 3);
        c = (struct collected) {};
        assert_int_equal(db_events_list(d, &page, ids[4], collect_event, &c, &next), 1);
        c = (struct collected) {};
        assert_int_equal(db_alarm_events_list(d, &page, 0, collect_alarm, &c, &next), 3);
        c = (struct collected) {};
        page.limit = 2;
        assert_int_equal(db_alarm_events_list(d, &page, 0, collect_alarm, &c, &next), 2);
}

/* Events the range does not want, DB_SCAN_ROWS and more of them before
 * the one it does: the first page stops at the bound, empty, and says where
 * to go on; the next finds the event. */
static void a_page_reads_at_most_a_bounded_stretch_of_ids(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct collected c = {};
        struct db_page page = { .since_utc_us = 5000, .until_utc_us = 6000, .limit = 10 };
        int64_t next = -1;
        char sql[256];

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(sqlite3_open(f->path, &raw), SQLITE_OK);
        snprintf(sql, sizeof sql,
                 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
                 " INSERT INTO events (channel, utc_us, kind) SELECT 0, 1, 'noise' FROM n;"
                 "INSERT INTO events (channel, utc_us, kind) VALUES (0, 5500, 'wanted');",
                 DB_SCAN_ROWS + 10);
        assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);

        assert_int_equal(db_events_list(d, &page, 0, collect_event, &c, &next), 0);
        assert_int_equal(next, DB_SCAN_ROWS);
        page.after_id = next;
        assert_int_equal(db_events_list(d, &page, 0, collect_event, &c, &next), 1);
        assert_int_equal(c.ids[0], DB_SCAN_ROWS + 11);
        assert_int_equal(next, 0);
}

static void a_bad_page_is_refused(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct collected c = {};
        int64_t next;

        assert_int_equal(db_open(f->path, &d), 0);
        const struct db_page bad[] = {
                { .since_utc_us = 5, .until_utc_us = 5, .limit = 1 },
                { .since_utc_us = -1, .until_utc_us = 5, .limit = 1 },
                { .until_utc_us = 5, .limit = 0 },
                { .until_utc_us = 5, .limit = DB_PAGE_MAX + 1 },
                { .until_utc_us = 5, .after_id = -1, .limit = 1 },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(db_infusions_list(d, &bad[i], NULL, collect_infusion, &c, &next), -EINVAL);
        assert_int_equal(c.n, 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(an_intact_chain_verifies_and_its_head_is_the_newest_row),
                T(the_chain_hash_is_the_documented_encoding),
                T(a_changed_byte_names_that_row),
                T(a_changed_row_with_a_recomputed_hash_breaks_the_next_row),
                T(a_deleted_row_shows_as_a_gap),
                T(the_schema_refuses_unchained_and_out_of_order_rows_and_a_backward_anchor),
                T(a_version_5_file_chains_its_audit_rows_when_migrated),
                T(a_read_only_handle_reads_and_can_never_write),
                T(a_read_only_path_with_uri_characters_opens_that_file),
                T(infusions_page_by_id_and_select_by_overlap),
                T(events_and_alarms_page_by_time_and_infusion),
                T(a_page_reads_at_most_a_bounded_stretch_of_ids),
                T(a_bad_page_is_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
