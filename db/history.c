/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "db/db-private.h"

/* sqlite3_bind_* return SQLITE_OK (0) or an error, so a run of binds chains
 * with ?: and stops at the first failure. Strings are bound SQLITE_STATIC:
 * they are the caller's and only read by the step that follows; db_resetp
 * clears them before we return. */

static int bind_text(sqlite3_stmt *s, int i, const char *text) {
        return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static int bind_int64_or_null(sqlite3_stmt *s, int i, int64_t v, bool null) {
        return null ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, v);
}

/* Step an UPDATE of one infusion: -ENOENT when no open row matched. */
static int step_one_row(struct db *d, sqlite3_stmt *s) {
        int r = db_step_done(d, s);
        if (r < 0)
                return r;
        return sqlite3_changes(d->sqlite) == 1 ? 0 : -ENOENT;
}

static bool is_end_status(const char *status) {
        return status && (strcmp(status, "completed") == 0 ||
                          strcmp(status, "stopped") == 0 ||
                          strcmp(status, "interrupted") == 0);
}

int db_infusion_begin(struct db *d, const struct db_infusion *inf, int64_t *ret_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !inf || !inf->mode || !ret_id)
                return -EINVAL;

        r = db_statement(d, DB_STMT_INFUSION_BEGIN,
                         "INSERT INTO infusions (channel, mode, status, rate_nl_per_h, vtbi_nl,"
                         " kvo_rate_nl_per_h, volume_nl, started_utc_us, started_mono_us,"
                         " checkpoint_utc_us, care_area, drug_id, drug_name, dose_rate, dose_unit,"
                         " concentration, library_sha256)"
                         " VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?6, ?7, ?8, ?7, ?9, ?10, ?11, ?12, ?13, ?14, ?15)", &s);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(s, 1, inf->channel) ?:
             bind_text(s, 2, inf->mode) ?:
             sqlite3_bind_int64(s, 3, inf->rate_nl_per_h) ?:
             sqlite3_bind_int64(s, 4, inf->vtbi_nl) ?:
             sqlite3_bind_int64(s, 5, inf->kvo_rate_nl_per_h) ?:
             sqlite3_bind_int64(s, 6, inf->volume_nl) ?:
             sqlite3_bind_int64(s, 7, inf->started_utc_us) ?:
             sqlite3_bind_int64(s, 8, inf->started_mono_us) ?:
             bind_text(s, 9, inf->care_area) ?:
             bind_text(s, 10, inf->drug_id) ?:
             bind_text(s, 11, inf->drug_name) ?:
             (isfinite(inf->dose_rate) && inf->drug_id ? sqlite3_bind_double(s, 12, inf->dose_rate)
                                                        : sqlite3_bind_null(s, 12)) ?:
             bind_text(s, 13, inf->dose_unit) ?:
             bind_text(s, 14, inf->concentration) ?:
             bind_text(s, 15, inf->library_sha256);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        r = db_step_done(d, s);
        if (r < 0)
                return r;
        *ret_id = sqlite3_last_insert_rowid(d->sqlite);
        return 0;
}

int db_set_synchronous(struct db *d, bool full) {
        int rc;

        /* Not a cached statement: PRAGMA synchronous takes effect when it
         * is compiled, and stepping a prepared copy again does nothing. */
        rc = sqlite3_exec(d->sqlite, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
                          NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : db_fail(d, rc);
}

static int checkpoint_update(struct db *d, int64_t id, int64_t volume_nl, int64_t utc_us) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_INFUSION_CHECKPOINT,
                         "UPDATE infusions SET volume_nl = ?2, checkpoint_utc_us = ?3"
                         " WHERE id = ?1 AND status = 'active'", &s);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(s, 1, id) ?:
             sqlite3_bind_int64(s, 2, volume_nl) ?:
             sqlite3_bind_int64(s, 3, utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        return step_one_row(d, s);
}

int db_infusion_checkpoint(struct db *d, int64_t id, int64_t volume_nl, int64_t utc_us) {
        int r, q;

        if (!d || id <= 0)
                return -EINVAL;

        /* synchronous=NORMAL for this one statement: the commit reaches the
         * WAL but is not fsynced. A checkpoint comes about once a second
         * per channel and the next one supersedes it, so an fsync each
         * time buys little and costs latency and flash wear (measured on
         * the dev VM's virtio disk: 11 µs with NORMAL, pragma switches
         * included, against 170-190 µs FULL; SD/eMMC on the boards will be
         * slower, not yet measured). kill -9 still loses nothing: the
         * commit is in the page cache.
         * Power loss can lose the checkpoints written since the last FULL
         * commit (whose fsync covers all earlier WAL frames) or the
         * kernel's last writeback, whichever is later. Begin, end, events
         * and audit stay FULL. */
        r = db_set_synchronous(d, false);
        if (r < 0)
                return r;
        r = checkpoint_update(d, id, volume_nl, utc_us);
        /* Restore FULL even when the update failed: every other write
         * depends on it. */
        q = db_set_synchronous(d, true);
        return r < 0 ? r : q;
}

int db_infusion_end(struct db *d, int64_t id, const char *status, int64_t volume_nl, int64_t utc_us) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || id <= 0 || !is_end_status(status))
                return -EINVAL;

        /* The final volume is also the last checkpoint, as of the end. */
        r = db_statement(d, DB_STMT_INFUSION_END,
                         "UPDATE infusions SET status = ?2, volume_nl = ?3,"
                         " ended_utc_us = ?4, checkpoint_utc_us = ?4"
                         " WHERE id = ?1 AND status = 'active'", &s);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(s, 1, id) ?:
             bind_text(s, 2, status) ?:
             sqlite3_bind_int64(s, 3, volume_nl) ?:
             sqlite3_bind_int64(s, 4, utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        return step_one_row(d, s);
}

/* Columns in this order for every SELECT that fills a struct db_infusion. */
#define INFUSION_COLUMNS                                                \
        "id, channel, mode, status, rate_nl_per_h, vtbi_nl,"            \
        " kvo_rate_nl_per_h, volume_nl, started_utc_us, started_mono_us," \
        " ended_utc_us"

/* Strings are left pointing into s; the caller copies what it keeps. */
static void infusion_from_row(sqlite3_stmt *s, struct db_infusion *ret) {
        *ret = (struct db_infusion) {
                .id = sqlite3_column_int64(s, 0),
                .channel = (unsigned) sqlite3_column_int64(s, 1),
                .mode = (const char *) sqlite3_column_text(s, 2),
                .status = (const char *) sqlite3_column_text(s, 3),
                .rate_nl_per_h = sqlite3_column_int64(s, 4),
                .vtbi_nl = sqlite3_column_int64(s, 5),
                .kvo_rate_nl_per_h = sqlite3_column_int64(s, 6),
                .volume_nl = sqlite3_column_int64(s, 7),
                .started_utc_us = sqlite3_column_int64(s, 8),
                .started_mono_us = sqlite3_column_int64(s, 9),
                .ended_utc_us = sqlite3_column_int64(s, 10),     /* NULL reads as 0 */
        };
}

int db_infusion_get(struct db *d, int64_t id, struct db_infusion *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        _cleanup_(freep) char *mode = NULL, *status = NULL;
        struct db_infusion inf;
        int r, rc;

        if (!d || !ret)
                return -EINVAL;

        r = db_statement(d, DB_STMT_INFUSION_GET,
                         "SELECT " INFUSION_COLUMNS " FROM infusions WHERE id = ?1", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, id);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);

        /* Copied: the row's text dies with the reset on return. */
        infusion_from_row(s, &inf);
        mode = strdup(inf.mode ?: "");
        status = strdup(inf.status ?: "");
        if (!mode || !status)
                return -ENOMEM;

        free(d->got_mode);
        free(d->got_status);
        inf.mode = d->got_mode = TAKE_PTR(mode);
        inf.status = d->got_status = TAKE_PTR(status);
        *ret = inf;
        return 0;
}

struct recovered {
        struct db_infusion *rows;
        size_t n;
};

static void recovered_done(struct recovered *rec) {
        for (size_t i = 0; i < rec->n; i++)
                free((char *) rec->rows[i].mode);
        free(rec->rows);
}

static int recover_collect(struct db *d, int64_t utc_us, struct recovered *rec) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_RECOVER_SELECT,
                         "SELECT " INFUSION_COLUMNS " FROM infusions"
                         " WHERE status = 'active' ORDER BY id", &s);
        if (r < 0)
                return r;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                struct db_infusion *rows, inf;

                rows = reallocarray(rec->rows, rec->n + 1, sizeof *rows);
                if (!rows)
                        return -ENOMEM;
                rec->rows = rows;

                infusion_from_row(s, &inf);
                inf.mode = strdup(inf.mode ?: "");
                if (!inf.mode)
                        return -ENOMEM;
                /* what the row will say once the transaction commits */
                inf.status = "interrupted";
                inf.ended_utc_us = utc_us;
                rec->rows[rec->n++] = inf;
        }
        return rc == SQLITE_DONE ? 0 : db_fail(d, rc);
}

static int recover_mark(struct db *d, int64_t utc_us) {
        _cleanup_(db_resetp) sqlite3_stmt *events = NULL, *mark = NULL;
        int r, rc;

        /* The event first, while the rows are still 'active'. printf() and
         * strftime() are SQLite's: no locale decides the decimal point. */
        r = db_statement(d, DB_STMT_RECOVER_EVENTS,
                         "INSERT INTO events (infusion_id, channel, utc_us, mono_us, kind,"
                         " volume_nl, detail)"
                         " SELECT id, channel, ?1, NULL, 'interrupted', volume_nl,"
                         " printf('daemon restarted; last checkpoint %.3f mL at %s',"
                         "   volume_nl / 1e6,"
                         "   strftime('%Y-%m-%dT%H:%M:%fZ', checkpoint_utc_us / 1000 / 1000.0, 'unixepoch'))"
                         " FROM infusions WHERE status = 'active' ORDER BY id", &events);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(events, 1, utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, events);
        if (r < 0)
                return r;

        /* volume_nl stays the last checkpoint: nothing later is known. */
        r = db_statement(d, DB_STMT_RECOVER_MARK,
                         "UPDATE infusions SET status = 'interrupted', ended_utc_us = ?1"
                         " WHERE status = 'active'", &mark);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(mark, 1, utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return db_step_done(d, mark);
}

int db_recover_interrupted(struct db *d, int64_t utc_us, db_interrupted_cb cb, void *userdata) {
        _cleanup_(recovered_done) struct recovered rec = {};
        int r;

        if (!d)
                return -EINVAL;

        r = db_begin(d);
        if (r < 0)
                return r;
        r = recover_collect(d, utc_us, &rec);
        if (r >= 0)
                r = recover_mark(d, utc_us);
        if (r >= 0)
                r = db_commit(d);
        if (r < 0) {
                db_rollback(d);
                return r;
        }

        /* Only after the commit, so nothing is reported that is not on
         * disk, and cb may call back into d. */
        if (cb)
                for (size_t i = 0; i < rec.n; i++)
                        cb(&rec.rows[i], userdata);

        return (int) MIN(rec.n, (size_t) INT_MAX);
}

int db_event_add(struct db *d, const struct db_event *e) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !e || !e->kind || e->infusion_id < 0)
                return -EINVAL;

        r = db_statement(d, DB_STMT_EVENT_ADD,
                         "INSERT INTO events (infusion_id, channel, utc_us, mono_us, kind,"
                         " from_state, to_state, volume_nl, detail)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", &s);
        if (r < 0)
                return r;

        rc = bind_int64_or_null(s, 1, e->infusion_id, e->infusion_id == 0) ?:
             sqlite3_bind_int64(s, 2, e->channel) ?:
             sqlite3_bind_int64(s, 3, e->utc_us) ?:
             sqlite3_bind_int64(s, 4, e->mono_us) ?:
             bind_text(s, 5, e->kind) ?:
             bind_text(s, 6, e->from_state) ?:
             bind_text(s, 7, e->to_state) ?:
             sqlite3_bind_int64(s, 8, e->volume_nl) ?:
             bind_text(s, 9, e->detail);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        return db_step_done(d, s);
}

int64_t db_event_count(struct db *d, const char *kind) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d)
                return -EINVAL;

        r = db_statement(d, DB_STMT_EVENT_COUNT,
                         "SELECT count(*) FROM events WHERE ?1 IS NULL OR kind = ?1", &s);
        if (r < 0)
                return r;
        rc = bind_text(s, 1, kind);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        return sqlite3_column_int64(s, 0);
}

int db_event_last_utc_us(struct db *d, unsigned channel, const char *kind, int64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !kind || !ret)
                return -EINVAL;

        /* Newest by the wall clock, like every window that starts from it;
         * one lookup in events_channel_kind_utc_us. */
        r = db_statement(d, DB_STMT_EVENT_LAST_UTC,
                         "SELECT utc_us FROM events WHERE channel = ?1 AND kind = ?2"
                         " ORDER BY utc_us DESC LIMIT 1", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, channel) ?:
             bind_text(s, 2, kind);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret = sqlite3_column_int64(s, 0);
        return 0;
}

int db_latest_utc_us(struct db *d, int64_t *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !ret)
                return -EINVAL;

        /* Every time column of every table. max() of a column is one index
         * lookup where the column leads an index; the rest are small tables
         * or, for a dose's end, a few rows a day. Delivery samples are
         * many and their index leads with the infusion: each infusion's
         * newest is one lookup. The aggregate max() skips the NULLs of
         * empty tables (the scalar max(a, b) would not). */
        r = db_statement(d, DB_STMT_LATEST_UTC,
                         "SELECT coalesce(max(t), 0) FROM ("
                         " SELECT max(utc_us) AS t FROM events"
                         " UNION ALL SELECT max(utc_us) FROM alarm_events"
                         " UNION ALL SELECT max(utc_us) FROM pca_demands"
                         " UNION ALL SELECT max(ended_utc_us) FROM pca_demands"
                         " UNION ALL SELECT max((SELECT max(utc_us) FROM delivery_samples AS ds"
                         "                       WHERE ds.infusion_id = i.id)) FROM infusions AS i"
                         " UNION ALL SELECT max(started_utc_us) FROM infusions"
                         " UNION ALL SELECT max(ended_utc_us) FROM infusions"
                         " UNION ALL SELECT max(checkpoint_utc_us) FROM infusions"
                         " UNION ALL SELECT max(utc_us) FROM audit"
                         " UNION ALL SELECT max(utc_us) FROM limit_events"
                         " UNION ALL SELECT max(imported_utc_us) FROM drug_libraries)", &s);
        if (r < 0)
                return r;

        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret = sqlite3_column_int64(s, 0);
        return 0;
}
