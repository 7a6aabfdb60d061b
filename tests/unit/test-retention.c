/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
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

/* Retention on real SQLite files: years of synthetic history, pruned by
 * age and by size, in small steps, with the schema's fences refusing any
 * other delete. */

#define DIR_MAX 1024
#define PATH_LEN_MAX (DIR_MAX + 16)
#define SIBLING_MAX (PATH_LEN_MAX + 16)

#define HOUR_US INT64_C(3600000000)
#define DAY_US (24 * HOUR_US)
/* 2023-11-14T22:13:20Z */
#define T0_UTC_US INT64_C(1700000000000000)
/* Four years of history, "now" at the end of it. */
#define NOW_UTC_US (T0_UTC_US + 1461 * DAY_US)
/* The active infusion began ten days into the history and never ended. */
#define ACTIVE_START_UTC_US (T0_UTC_US + 10 * DAY_US)
#define STEPS_MAX 100000

struct fixture {
        char dir[DIR_MAX];
        char path[PATH_LEN_MAX];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof *f);
        const char *tmp = getenv("TMPDIR") ?: "/tmp";

        assert_non_null(f);
        snprintf(f->dir, sizeof f->dir, "%s/test-retention-XXXXXX", tmp);
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->path, sizeof f->path, "%s/history.db", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char p[SIBLING_MAX];

        (void) unlink(f->path);
        snprintf(p, sizeof p, "%s-wal", f->path);
        (void) unlink(p);
        snprintf(p, sizeof p, "%s-shm", f->path);
        (void) unlink(p);
        assert_int_equal(rmdir(f->dir), 0);
        free(f);
        return 0;
}

static void db_closep(struct db **d) {
        *d = db_close(*d);
}

static void sqlite_closep(sqlite3 **s) {
        sqlite3_close(*s);
}

static sqlite3 *open_raw(const char *path) {
        sqlite3 *s = NULL;
        assert_int_equal(sqlite3_open_v2(path, &s, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_busy_timeout(s, 5000), SQLITE_OK);
        return s;
}

static int64_t query_int(sqlite3 *s, const char *format, ...) __attribute__((format(printf, 2, 3)));
static int64_t query_int(sqlite3 *s, const char *format, ...) {
        sqlite3_stmt *st = NULL;
        char sql[1024];
        va_list ap;
        int64_t v = 0;
        int rc;

        va_start(ap, format);
        vsnprintf(sql, sizeof sql, format, ap);
        va_end(ap);
        assert_int_equal(sqlite3_prepare_v2(s, sql, -1, &st, NULL), SQLITE_OK);
        rc = sqlite3_step(st);
        assert_true(rc == SQLITE_ROW || rc == SQLITE_DONE);
        if (rc == SQLITE_ROW)
                v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return v;
}

/* ---- synthetic history ---------------------------------------------- */

struct history {
        unsigned n_infusions;           /* one every spacing_us from T0 */
        int64_t spacing_us;
        unsigned samples;               /* delivery samples per infusion */
        unsigned pad;                   /* bytes of text in each record, for size */
        bool active;                    /* an infusion from ACTIVE_START that never ended */
        int64_t active_id;              /* filled */
};

/* Every statement binds from the same list; each takes the ones it names:
 * ?1 T0, ?2 infusions, ?3 spacing, ?4 samples, ?5 pad, ?6 active id,
 * ?7 now, ?8 the active infusion's start. */
static const char *const fill_sql[] = {
        "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < ?2)"
        " INSERT INTO infusions (channel, mode, status, rate_nl_per_h, vtbi_nl, kvo_rate_nl_per_h, volume_nl,"
        "  started_utc_us, started_mono_us, ended_utc_us, checkpoint_utc_us, care_area, drug_id, library_sha256)"
        " SELECT 0, 'continuous', 'completed', 100000000, 50000000, 1000000, 50000000,"
        "  ?1 + k * ?3, 0, ?1 + k * ?3 + 3 * 3600000000, ?1 + k * ?3 + 3 * 3600000000, 'icu', 'heparin',"
        "  (SELECT sha256 FROM drug_libraries WHERE imported_utc_us <= ?1 + k * ?3 ORDER BY id DESC LIMIT 1)"
        " FROM n",
        /* start and end, and a start-up with no infusion two hours before */
        "INSERT INTO events (infusion_id, channel, utc_us, mono_us, kind, from_state, to_state, volume_nl, detail)"
        " SELECT id, 0, started_utc_us, 0, 'state', 'programmed', 'running', 0, hex(zeroblob(?5 / 2))"
        "  FROM infusions WHERE status = 'completed'"
        " UNION ALL SELECT id, 0, ended_utc_us, 0, 'state', 'running', 'idle', volume_nl, hex(zeroblob(?5 / 2))"
        "  FROM infusions WHERE status = 'completed'"
        " UNION ALL SELECT NULL, 0, started_utc_us - 2 * 3600000000, 0, 'startup', NULL, 'idle', 0, hex(zeroblob(?5 / 2))"
        "  FROM infusions WHERE status = 'completed'",
        "WITH RECURSIVE m(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM m WHERE k + 1 < ?4)"
        " INSERT INTO delivery_samples (infusion_id, channel, utc_us, mono_us, volume_nl, rate_nl_per_h)"
        " SELECT i.id, 0, i.started_utc_us + m.k * (3 * 3600000000 / ?4), 0, m.k * 1000, 100000000"
        " FROM infusions AS i, m WHERE i.status = 'completed'",
        "INSERT INTO alarm_events (alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us,"
        "  mono_us, pressure_mmhg, volume_nl, message)"
        " SELECT 'occlusion-downstream-' || id, id, id, 0, 'raised', 'occlusion-downstream', 'high',"
        "  started_utc_us + 3600000000, 0, 350, 1000, hex(zeroblob(?5 / 2)) FROM infusions WHERE status = 'completed'"
        " UNION ALL SELECT 'occlusion-downstream-' || id, id, id, 0, 'cleared', 'occlusion-downstream', 'high',"
        "  started_utc_us + 3660000000, 0, 20, 1000, hex(zeroblob(?5 / 2)) FROM infusions WHERE status = 'completed'",
        /* a granted dose in the infusion, and a demand while idle */
        "INSERT INTO pca_demands (infusion_id, channel, utc_us, mono_us, source, outcome, dose_nl, duration_us,"
        "  counts, detail, ended_utc_us, delivered_nl)"
        " SELECT id, 0, started_utc_us + 600000000, 0, 'button', 'granted', 1000000, 60000000, 1,"
        "  hex(zeroblob(?5 / 2)), started_utc_us + 660000000, 1000000 FROM infusions WHERE status = 'completed'"
        " UNION ALL SELECT NULL, 0, started_utc_us - 3600000000, 0, 'button', 'not-running', 1000000, 0, 0,"
        "  hex(zeroblob(?5 / 2)), NULL, NULL FROM infusions WHERE status = 'completed'",
        "INSERT INTO limit_events (utc_us, channel, care_area, drug_id, kind, value, unit, reason, uid, library_sha256)"
        " SELECT started_utc_us - 60000000, 0, 'icu', 'heparin', 'soft-override', 30, 'units/kg/h',"
        "  hex(zeroblob(?5 / 2)), 1000, library_sha256 FROM infusions WHERE status = 'completed'",
        /* The active infusion: a sample every ten days, an event and a
         * dose every thirty, an alarm every sixty, up to a day ago. */
        "WITH RECURSIVE m(t) AS (SELECT ?8 UNION ALL SELECT t + 10 * 86400000000 FROM m"
        "                         WHERE t + 10 * 86400000000 < ?7 - 86400000000)"
        " INSERT INTO delivery_samples (infusion_id, channel, utc_us, mono_us, volume_nl, rate_nl_per_h)"
        " SELECT ?6, 0, t, 0, (t - ?8) / 1000000, 1000000 FROM m WHERE ?6 > 0",
        "WITH RECURSIVE m(t) AS (SELECT ?8 UNION ALL SELECT t + 30 * 86400000000 FROM m"
        "                         WHERE t + 30 * 86400000000 < ?7 - 86400000000)"
        " INSERT INTO events (infusion_id, channel, utc_us, mono_us, kind, detail)"
        " SELECT ?6, 0, t, 0, 'state', 'still running' FROM m WHERE ?6 > 0",
        "WITH RECURSIVE m(t) AS (SELECT ?8 UNION ALL SELECT t + 30 * 86400000000 FROM m"
        "                         WHERE t + 30 * 86400000000 < ?7 - 86400000000)"
        " INSERT INTO pca_demands (infusion_id, channel, utc_us, mono_us, source, outcome, dose_nl, duration_us,"
        "  counts, ended_utc_us, delivered_nl)"
        " SELECT ?6, 0, t, 0, 'button', 'granted', 1000000, 60000000, 1, t + 60000000, 1000000 FROM m WHERE ?6 > 0",
        "WITH RECURSIVE m(t) AS (SELECT ?8 UNION ALL SELECT t + 60 * 86400000000 FROM m"
        "                         WHERE t + 60 * 86400000000 < ?7 - 86400000000)"
        " INSERT INTO alarm_events (alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us)"
        " SELECT 'air-in-line-' || (t / 1000000), 100000 + (t - ?8) / 86400000000, ?6, 0, 'raised', 'air-in-line',"
        "  'high', t FROM m WHERE ?6 > 0",
};

static void fill(struct db *d, const char *path, struct history *h) {
        _cleanup_(sqlite_closep) sqlite3 *raw = open_raw(path);
        char version[16], json[64];

        /* A library version every half year; the last one is in use. */
        for (unsigned k = 0; k < 9; k++) {
                struct db_library lib = {
                        .version = version,
                        .imported_utc_us = T0_UTC_US + k * 180 * DAY_US,
                        .imported_by_uid = 1000,
                        .json = json,
                };
                snprintf(version, sizeof version, "%u", k);
                snprintf(json, sizeof json, "{\"version\":\"%u\"}", k);
                assert_int_equal(db_library_store(d, &lib, NULL), 0);
        }

        h->active_id = 0;
        if (h->active) {
                struct db_infusion in = {
                        .channel = 0,
                        .mode = "continuous",
                        .rate_nl_per_h = 1000000,
                        .vtbi_nl = 5000000000,
                        .started_utc_us = ACTIVE_START_UTC_US,
                        .started_mono_us = 0,
                        .dose_rate = 0,
                };
                assert_int_equal(db_infusion_begin(d, &in, &h->active_id), 0);
        }

        /* In one transaction on a second connection: thousands of commits
         * through db/ would each wait for an fsync. */
        const int64_t params[] = { T0_UTC_US, h->n_infusions, h->spacing_us, h->samples, h->pad, h->active_id,
                                   NOW_UTC_US, ACTIVE_START_UTC_US };
        assert_int_equal(sqlite3_exec(raw, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
        for (size_t i = 0; i < ELEMENTSOF(fill_sql); i++) {
                sqlite3_stmt *st = NULL;
                int rc = sqlite3_prepare_v2(raw, fill_sql[i], -1, &st, NULL);
                if (rc != SQLITE_OK)
                        fail_msg("%s: %s", fill_sql[i], sqlite3_errmsg(raw));
                for (int p = 1; p <= sqlite3_bind_parameter_count(st); p++)
                        assert_int_equal(sqlite3_bind_int64(st, p, params[p - 1]), SQLITE_OK);
                rc = sqlite3_step(st);
                if (rc != SQLITE_DONE)
                        fail_msg("%s: %s", fill_sql[i], sqlite3_errmsg(raw));
                sqlite3_finalize(st);
        }
        assert_int_equal(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL), SQLITE_OK);

        /* The audit chain through db/, a row every two weeks. */
        for (int64_t t = T0_UTC_US; t < NOW_UTC_US; t += 14 * DAY_US)
                assert_int_equal(db_audit_add(d, &(struct db_audit) {
                        .utc_us = t,
                        .uid = 1000,
                        .method = "Channel.Start",
                        .object = "/org/infusiond/pump1/channel/0",
                        .outcome = "ok",
                }), 0);
}

/* The tables retention prunes by utc_us, and whether their rows name an
 * infusion. */
static const struct {
        const char *name;
        bool has_infusion;
} timed[] = {
        { "delivery_samples", true },
        { "pca_demands", true },
        { "alarm_events", true },
        { "events", true },
        { "limit_events", false },
        { "audit", false },
};

/* Rows older than cut that are not the active infusion's. */
static int64_t older_than(sqlite3 *raw, size_t t, int64_t cut, int64_t active_id) {
        if (timed[t].has_infusion)
                return query_int(raw, "SELECT count(*) FROM %s WHERE utc_us < %" PRIi64 " AND infusion_id IS NOT %" PRIi64,
                                 timed[t].name, cut, active_id);
        return query_int(raw, "SELECT count(*) FROM %s WHERE utc_us < %" PRIi64, timed[t].name, cut);
}

static int64_t newer_than(sqlite3 *raw, size_t t, int64_t cut) {
        return query_int(raw, "SELECT count(*) FROM %s WHERE utc_us >= %" PRIi64, timed[t].name, cut);
}

static int64_t of_active(sqlite3 *raw, size_t t, int64_t active_id) {
        if (!timed[t].has_infusion)
                return 0;
        return query_int(raw, "SELECT count(*) FROM %s WHERE infusion_id = %" PRIi64, timed[t].name, active_id);
}

/* Steps until one returns 0; returns how many it took. */
static unsigned run_to_done(struct db *d, const struct db_retention *r, int64_t now, struct db_retention_step *last) {
        unsigned n = 0;
        int q;

        do {
                q = db_retention_step(d, r, now, last);
                if (q < 0)
                        fail_msg("db_retention_step: %s", db_last_error(d));
                assert_true(q == 0 || q == 1);
                assert_int_equal(last->more, q == 1);
                n++;
        } while (q == 1 && n < STEPS_MAX);
        assert_true(n < STEPS_MAX);
        return n;
}

/* ---- tests ------------------------------------------------------------ */

static void pruning_by_age_keeps_the_recent_history_the_active_infusion_and_an_intact_audit_chain(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 730, .spacing_us = 2 * DAY_US, .samples = 6, .active = true };
        const struct db_retention r = { .keep_us = 365 * DAY_US, .floor_us = 2 * DAY_US };
        const int64_t cut = NOW_UTC_US - r.keep_us;
        int64_t newer[ELEMENTSOF(timed)], active[ELEMENTSOF(timed)], audit_rows, anchor_before;
        struct db_retention_step st = {};
        struct db_audit_check c = {};
        struct db_library lib;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);

        /* Four infusions that ended before the cut, each still named by a
         * record after it (an alarm acknowledged late, say): they stay. */
        static const char *const late[] = {
                "INSERT INTO alarm_events (alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us)"
                " VALUES ('late-' || ?1, 1, ?1, 0, 'acknowledged', 'air-in-line', 'high', ?2)",
                "INSERT INTO pca_demands (infusion_id, channel, utc_us, mono_us, source, outcome, dose_nl,"
                "  duration_us, counts) VALUES (?1, 0, ?2, 0, 'dbus', 'not-running', 1, 0, 0)",
                "INSERT INTO events (infusion_id, channel, utc_us, kind) VALUES (?1, 0, ?2, 'note')",
                "INSERT INTO delivery_samples (infusion_id, channel, utc_us, mono_us, volume_nl, rate_nl_per_h)"
                " VALUES (?1, 0, ?2, 0, 0, 0)",
        };
        for (size_t i = 0; i < ELEMENTSOF(late); i++) {
                int64_t id = query_int(raw, "SELECT id FROM infusions WHERE status = 'completed' AND ended_utc_us < %"
                                       PRIi64 " ORDER BY ended_utc_us DESC LIMIT 1 OFFSET %zu", cut, i);
                sqlite3_stmt *ins = NULL;
                assert_int_equal(sqlite3_prepare_v2(raw, late[i], -1, &ins, NULL), SQLITE_OK);
                assert_int_equal(sqlite3_bind_int64(ins, 1, id), SQLITE_OK);
                assert_int_equal(sqlite3_bind_int64(ins, 2, cut + HOUR_US), SQLITE_OK);
                assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
                sqlite3_finalize(ins);
        }

        for (size_t t = 0; t < ELEMENTSOF(timed); t++) {
                /* the fill put something on both sides of the cut */
                assert_true(older_than(raw, t, cut, h.active_id) > 0);
                newer[t] = newer_than(raw, t, cut);
                assert_true(newer[t] > 0);
                active[t] = of_active(raw, t, h.active_id);
        }
        /* the active infusion has records from long before the cut */
        assert_true(query_int(raw, "SELECT count(*) FROM delivery_samples WHERE infusion_id = %" PRIi64
                                   " AND utc_us < %" PRIi64, h.active_id, cut) > 30);
        anchor_before = query_int(raw, "SELECT audit_id FROM audit_anchor");
        int64_t infusions_kept = query_int(raw, "SELECT count(*) FROM infusions WHERE ended_utc_us >= %" PRIi64
                                                " OR ended_utc_us IS NULL", cut) + ELEMENTSOF(late);

        assert_true(run_to_done(d, &r, NOW_UTC_US, &st) > 1);
        assert_int_equal(st.pruned_before_utc_us, cut);
        assert_int_equal(query_int(raw, "SELECT pruned_before_utc_us FROM retention"), cut);
        assert_int_equal(query_int(raw, "SELECT pruned_utc_us FROM retention"), NOW_UTC_US);

        for (size_t t = 0; t < ELEMENTSOF(timed); t++) {
                /* nothing older than the keep limit but the active infusion's ... */
                assert_int_equal(older_than(raw, t, cut, h.active_id), 0);
                /* ... nothing newer touched, and all of the active infusion's kept */
                assert_int_equal(newer_than(raw, t, cut), newer[t]);
                assert_int_equal(of_active(raw, t, h.active_id), active[t]);
        }
        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions WHERE ended_utc_us < %" PRIi64, cut),
                         ELEMENTSOF(late));
        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions"), infusions_kept);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions WHERE id = %" PRIi64
                                        " AND status = 'active' AND started_utc_us = %" PRIi64,
                                   h.active_id, ACTIVE_START_UTC_US), 1);

        /* Libraries: 0..5 were replaced before the cut; 6 was in use at
         * the cut and kept infusions name it; 7 and 8 are newer. */
        assert_int_equal(query_int(raw, "SELECT count(*) FROM drug_libraries"), 3);
        assert_int_equal(query_int(raw, "SELECT min(CAST(version AS INTEGER)) FROM drug_libraries"), 6);
        assert_int_equal(db_library_current(d, &lib), 0);
        assert_string_equal(lib.version, "8");

        /* The anchor moved onto the last pruned row; the chain still checks. */
        int64_t anchor = query_int(raw, "SELECT audit_id FROM audit_anchor");
        assert_true(anchor > anchor_before);
        assert_int_equal(query_int(raw, "SELECT min(id) FROM audit"), anchor + 1);
        assert_int_equal(query_int(raw, "SELECT moved_utc_us FROM audit_anchor"), NOW_UTC_US);
        audit_rows = query_int(raw, "SELECT count(*) FROM audit");
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.broken_id, 0);
        assert_int_equal(c.anchor_id, anchor);
        assert_int_equal(c.rows, audit_rows);

        /* and grows on from its head */
        assert_int_equal(db_audit_add(d, &(struct db_audit) {
                .utc_us = NOW_UTC_US, .uid = -1, .method = "Retention.Prune",
                .object = "/org/infusiond/pump1/history", .args = "test", .outcome = "ok",
        }), 0);
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.rows, audit_rows + 1);

        /* No record names a pruned infusion, and db/ still enforces that. */
        assert_int_equal(query_int(raw, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        assert_int_equal(db_event_add(d, &(struct db_event) {
                .infusion_id = h.active_id + 1, .utc_us = NOW_UTC_US, .kind = "state",
        }), -EINVAL);

        /* Pruning again at once finds nothing. */
        assert_int_equal(db_retention_step(d, &r, NOW_UTC_US, &st), 0);
        assert_int_equal(st.rows_deleted, 0);
}

static void the_newest_audit_row_is_kept_whatever_its_age(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        const struct db_retention r = { .keep_us = 2 * DAY_US, .floor_us = 2 * DAY_US };
        struct db_retention_step st;
        struct db_audit_check c;
        int64_t head;
        char sha[65];

        assert_int_equal(db_open(f->path, &d), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(db_audit_add(d, &(struct db_audit) {
                        .utc_us = T0_UTC_US + i, .uid = 0, .method = "Channel.Stop",
                        .object = "/org/infusiond/pump1/channel/0", .outcome = "ok",
                }), 0);
        run_to_done(d, &r, NOW_UTC_US, &st);

        raw = open_raw(f->path);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM audit"), 1);
        assert_int_equal(query_int(raw, "SELECT audit_id FROM audit_anchor"), 4);
        assert_int_equal(db_audit_head(d, &head, sha), 0);
        assert_int_equal(head, 5);
        assert_int_equal(db_audit_verify(d, &c), 0);
        assert_int_equal(c.rows, 1);
}

static void ids_and_alarm_seqs_are_never_given_out_again_once_everything_is_old(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 20, .spacing_us = DAY_US, .samples = 3 };
        const struct db_retention r = { .keep_us = 30 * DAY_US, .floor_us = 2 * DAY_US };
        static const char *const tables[] = {
                "delivery_samples", "pca_demands", "alarm_events", "events", "limit_events", "infusions", "audit",
        };
        int64_t max_id[ELEMENTSOF(tables)], id;
        struct db_retention_step st;
        unsigned seq_before, seq_after;

        /* three weeks of history, all of it two and a half years old by now */
        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);
        /* an older alarm answered last: the newest row is not the highest seq */
        assert_int_equal(sqlite3_exec(raw, "INSERT INTO alarm_events (alarm_id, seq, channel, action, condition,"
                                           " priority, utc_us) VALUES ('near-end-1', 1, 0, 'acknowledged',"
                                           " 'near-end', 'low', 1700100000000000)", NULL, NULL, NULL), SQLITE_OK);
        /* and the newest infusion with nothing that names it */
        assert_int_equal(sqlite3_exec(raw, "INSERT INTO infusions (channel, mode, status, rate_nl_per_h, vtbi_nl,"
                                           " kvo_rate_nl_per_h, started_utc_us, started_mono_us, ended_utc_us,"
                                           " checkpoint_utc_us) VALUES (1, 'continuous', 'stopped', 1, 1, 0,"
                                           " 1702000000000000, 0, 1702000001000000, 1702000001000000)",
                                      NULL, NULL, NULL), SQLITE_OK);
        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                max_id[t] = query_int(raw, "SELECT max(id) FROM %s", tables[t]);
        assert_int_equal(db_alarm_next_seq(d, &seq_before), 0);

        run_to_done(d, &r, T0_UTC_US + 900 * DAY_US, &st);
        for (size_t t = 0; t < ELEMENTSOF(tables); t++) {
                /* the newest row is all that is left */
                assert_int_equal(query_int(raw, "SELECT max(id) FROM %s", tables[t]), max_id[t]);
                /* alarm_events: the highest seq's two rows too; audit: its
                 * rows are dated up to four years after T0 */
                if (strcmp(tables[t], "alarm_events") == 0)
                        assert_int_equal(query_int(raw, "SELECT count(*) FROM alarm_events"), 3);
                else if (strcmp(tables[t], "infusions") == 0)
                        /* and the one the newest alarm rows name */
                        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions"), 2);
                else if (strcmp(tables[t], "audit") != 0)
                        assert_int_equal(query_int(raw, "SELECT count(*) FROM %s", tables[t]), 1);
        }
        assert_int_equal(query_int(raw, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        assert_int_equal(db_alarm_next_seq(d, &seq_after), 0);
        assert_int_equal(seq_after, seq_before);

        struct db_infusion in = { .mode = "continuous", .rate_nl_per_h = 1000000, .vtbi_nl = 1000000,
                                  .started_utc_us = T0_UTC_US + 900 * DAY_US };
        assert_int_equal(db_infusion_begin(d, &in, &id), 0);
        assert_int_equal(id, max_id[5] + 1);
}

static void a_size_limit_prunes_oldest_first_until_the_live_data_fits_and_the_file_shrinks(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 730, .spacing_us = 2 * DAY_US, .samples = 20, .pad = 600 };
        struct db_retention r = { .keep_us = 36500 * DAY_US, .floor_us = 2 * DAY_US, .batch_rows = 100 };
        uint64_t in_use_before, file_before, in_use, file;
        struct db_retention_step st;
        int64_t total_before = 0, total_after = 0;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);
        assert_int_equal(db_size_bytes(d, &in_use_before, &file_before), 0);
        assert_true(in_use_before > 4 * 1024 * 1024);
        assert_true(file_before >= in_use_before);

        /* within the limit: nothing to do */
        r.max_bytes = in_use_before + 1024 * 1024;
        assert_int_equal(db_retention_step(d, &r, NOW_UTC_US, &st), 0);
        assert_int_equal(st.rows_deleted, 0);
        assert_int_equal(st.pruned_before_utc_us, 0);

        for (size_t t = 0; t < ELEMENTSOF(timed); t++)
                total_before += query_int(raw, "SELECT count(*) FROM %s", timed[t].name);

        r.max_bytes = in_use_before / 4;
        run_to_done(d, &r, NOW_UTC_US, &st);
        assert_int_equal(db_size_bytes(d, &in_use, &file), 0);
        assert_true(in_use <= r.max_bytes);
        assert_int_equal(st.bytes_in_use, in_use);
        /* the freed pages went back to the file system */
        assert_true(file < file_before);
        assert_true(file <= in_use + 64 * 1024);

        /* Oldest first: everything before the fence went, nothing after
         * it, and the fence went no further than the limit needed (the
         * records' share of the file is most of it: about three quarters
         * of them must go, not all). */
        int64_t fence = st.pruned_before_utc_us;
        assert_true(fence > T0_UTC_US && fence < NOW_UTC_US - 2 * DAY_US);
        for (size_t t = 0; t < ELEMENTSOF(timed); t++) {
                assert_int_equal(older_than(raw, t, fence, 0), 0);
                total_after += query_int(raw, "SELECT count(*) FROM %s", timed[t].name);
        }
        assert_true(total_after > total_before / 8);
        assert_true(total_after < total_before / 3);
}

static void the_size_limit_moves_the_fence_only_once_the_age_backlog_is_gone(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 730, .spacing_us = 2 * DAY_US, .samples = 20, .pad = 600 };
        struct db_retention r = { .keep_us = 730 * DAY_US, .floor_us = 2 * DAY_US, .batch_rows = 100 };
        struct db_retention_step st;
        uint64_t in_use_before, in_use;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);
        assert_int_equal(db_size_bytes(d, &in_use_before, NULL), 0);

        /* Age takes half of the records, size asks for a little more: the
         * fence ends a little past the age cut, not far beyond it as it
         * would if it had moved for size while the backlog was deleted. */
        r.max_bytes = in_use_before * 2 / 5;
        run_to_done(d, &r, NOW_UTC_US, &st);
        assert_int_equal(db_size_bytes(d, &in_use, NULL), 0);
        assert_true(in_use <= r.max_bytes);
        assert_true(st.pruned_before_utc_us > NOW_UTC_US - r.keep_us);
        assert_true(st.pruned_before_utc_us < NOW_UTC_US - r.keep_us + 200 * DAY_US);
}

static void the_floor_keeps_recent_records_even_over_the_size_limit(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 730, .spacing_us = 2 * DAY_US, .samples = 6, .pad = 200, .active = true };
        const struct db_retention r = {
                .keep_us = 36500 * DAY_US, .floor_us = 60 * DAY_US, .max_bytes = 16 * 1024, .batch_rows = 200,
        };
        const int64_t floor_cut = NOW_UTC_US - r.floor_us;
        int64_t newer[ELEMENTSOF(timed)];
        struct db_retention_step st;
        uint64_t in_use;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);
        for (size_t t = 0; t < ELEMENTSOF(timed); t++) {
                newer[t] = newer_than(raw, t, floor_cut);
                assert_true(newer[t] > 0);
        }

        run_to_done(d, &r, NOW_UTC_US, &st);
        assert_int_equal(db_size_bytes(d, &in_use, NULL), 0);
        /* over the limit, and stopped at the floor */
        assert_true(in_use > r.max_bytes);
        assert_int_equal(st.pruned_before_utc_us, floor_cut);
        for (size_t t = 0; t < ELEMENTSOF(timed); t++) {
                assert_int_equal(newer_than(raw, t, floor_cut), newer[t]);
                assert_int_equal(older_than(raw, t, floor_cut, h.active_id), 0);
        }
        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions WHERE status = 'active'"), 1);
}

static void each_step_deletes_at_most_a_batch_per_table_and_says_when_more_is_left(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 480, .spacing_us = 3 * DAY_US, .samples = 6, .active = true };
        const struct db_retention r = { .keep_us = 180 * DAY_US, .floor_us = 2 * DAY_US, .batch_rows = 100 };
        static const char *const tables[] = {
                "delivery_samples", "pca_demands", "alarm_events", "events", "limit_events",
                "infusions", "drug_libraries", "audit",
        };
        const int64_t cut = NOW_UTC_US - r.keep_us;
        int64_t count[ELEMENTSOF(tables)];
        struct db_retention_step st;
        unsigned steps = 0, full_steps = 0;
        int q;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        raw = open_raw(f->path);
        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                count[t] = query_int(raw, "SELECT count(*) FROM %s", tables[t]);

        do {
                uint64_t sum = 0;
                int64_t left = 0;

                q = db_retention_step(d, &r, NOW_UTC_US, &st);
                assert_true(q == 0 || q == 1);
                steps++;
                for (size_t t = 0; t < ELEMENTSOF(tables); t++) {
                        int64_t n = query_int(raw, "SELECT count(*) FROM %s", tables[t]);
                        assert_true(count[t] - n >= 0);
                        assert_true(count[t] - n <= r.batch_rows);
                        if (count[t] - n == r.batch_rows)
                                full_steps++;
                        sum += (uint64_t) (count[t] - n);
                        count[t] = n;
                }
                assert_int_equal(st.rows_deleted, sum);
                /* more is left: the step must say so */
                for (size_t t = 0; t < ELEMENTSOF(timed); t++)
                        left += older_than(raw, t, cut, h.active_id);
                left += query_int(raw, "SELECT count(*) FROM infusions WHERE ended_utc_us < %" PRIi64, cut);
                if (left > 0)
                        assert_int_equal(q, 1);
        } while (q == 1 && steps < STEPS_MAX);

        assert_int_equal(q, 0);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        assert_true(steps > 5);
        assert_true(full_steps > 5);
        for (size_t t = 0; t < ELEMENTSOF(timed); t++)
                assert_int_equal(older_than(raw, t, cut, h.active_id), 0);
}

static void the_schema_refuses_a_delete_that_is_not_retentions(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        _cleanup_(sqlite_closep) sqlite3 *raw = NULL;
        struct history h = { .n_infusions = 100, .spacing_us = 10 * DAY_US, .samples = 2, .active = true };
        const struct db_retention r = { .keep_us = 365 * DAY_US, .floor_us = 2 * DAY_US };
        struct db_retention_step st;
        int64_t fence, anchor, audit_rows;

        assert_int_equal(db_open(f->path, &d), 0);
        fill(d, f->path, &h);
        run_to_done(d, &r, NOW_UTC_US, &st);

        /* A connection of its own, as a tool or a bug would use: no
         * foreign keys, only the triggers stand in the way. */
        raw = open_raw(f->path);
        fence = query_int(raw, "SELECT pruned_before_utc_us FROM retention");
        anchor = query_int(raw, "SELECT audit_id FROM audit_anchor");
        audit_rows = query_int(raw, "SELECT count(*) FROM audit");
        assert_int_equal(fence, NOW_UTC_US - r.keep_us);
        assert_true(anchor > 0);

        /* an audit row after the anchor */
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM audit WHERE id = (SELECT audit_id + 1 FROM audit_anchor)",
                                          NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM audit"), audit_rows);

        /* records newer than the fence */
        int64_t events = query_int(raw, "SELECT count(*) FROM events");
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM events WHERE id = (SELECT max(id) FROM events"
                                               " WHERE utc_us >= (SELECT pruned_before_utc_us FROM retention))",
                                          NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM delivery_samples WHERE utc_us >= "
                                               "(SELECT pruned_before_utc_us FROM retention)", NULL, NULL, NULL),
                             SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM events"), events);

        /* the active infusion, however old */
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM infusions WHERE id = %" PRIi64, h.active_id);
        assert_int_not_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT count(*) FROM infusions WHERE id = %" PRIi64, h.active_id), 1);

        /* the library in use */
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM drug_libraries WHERE id = (SELECT max(id) FROM drug_libraries)",
                                          NULL, NULL, NULL), SQLITE_OK);

        /* the fences only move forward */
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE retention SET pruned_before_utc_us = pruned_before_utc_us - 1",
                                          NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "UPDATE audit_anchor SET audit_id = audit_id - 1", NULL, NULL, NULL),
                             SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM retention", NULL, NULL, NULL), SQLITE_OK);
        assert_int_not_equal(sqlite3_exec(raw, "DELETE FROM audit_anchor", NULL, NULL, NULL), SQLITE_OK);
        assert_int_equal(query_int(raw, "SELECT pruned_before_utc_us FROM retention"), fence);
        assert_int_equal(query_int(raw, "SELECT audit_id FROM audit_anchor"), anchor);
}

static void bad_arguments_are_refused(void **state) {
        struct fixture *f = *state;
        _cleanup_(db_closep) struct db *d = NULL;
        struct db_retention_step st;
        uint64_t in_use, file;

        assert_int_equal(db_open(f->path, &d), 0);
        assert_int_equal(db_retention_step(d, &(struct db_retention) { .keep_us = 0 }, NOW_UTC_US, &st), -EINVAL);
        assert_int_equal(db_retention_step(d, &(struct db_retention) { .keep_us = 1, .floor_us = -1 }, NOW_UTC_US, &st),
                         -EINVAL);
        assert_int_equal(db_retention_step(NULL, &(struct db_retention) { .keep_us = 1 }, NOW_UTC_US, &st), -EINVAL);
        assert_int_equal(db_size_bytes(NULL, &in_use, &file), -EINVAL);
        assert_int_equal(db_size_bytes(d, &in_use, &file), 0);
        assert_true(in_use > 0 && file >= in_use);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(pruning_by_age_keeps_the_recent_history_the_active_infusion_and_an_intact_audit_chain),
                T(the_newest_audit_row_is_kept_whatever_its_age),
                T(ids_and_alarm_seqs_are_never_given_out_again_once_everything_is_old),
                T(a_size_limit_prunes_oldest_first_until_the_live_data_fits_and_the_file_shrinks),
                T(the_size_limit_moves_the_fence_only_once_the_age_backlog_is_gone),
                T(the_floor_keeps_recent_records_even_over_the_size_limit),
                T(each_step_deletes_at_most_a_batch_per_table_and_says_when_more_is_left),
                T(the_schema_refuses_a_delete_that_is_not_retentions),
                T(bad_arguments_are_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
