/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "db/db-private.h"

/* PCA demands. Written with the connection's synchronous=FULL, like events:
 * a restart reloads the lockout, the hourly count and the cumulative window
 * from these rows, so a granted dose lost to a power cut would let the
 * patient have it again. */

int db_pca_demand_add(struct db *d, const struct db_pca_demand *e, int64_t *ret_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !e || !e->source || !e->outcome || e->infusion_id < 0)
                return -EINVAL;

        r = db_statement(d, DB_STMT_PCA_DEMAND_ADD,
                         "INSERT INTO pca_demands (infusion_id, channel, utc_us, mono_us, source, outcome,"
                         " dose_nl, duration_us, counts, uid, detail)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &s);
        if (r < 0)
                return r;

        /* Binds chain with ?: (SQLITE_OK is 0); strings are the caller's,
         * read only by the step below. An unknown uid is NULL, as in audit. */
        rc = (e->infusion_id > 0 ? sqlite3_bind_int64(s, 1, e->infusion_id) : sqlite3_bind_null(s, 1)) ?:
             sqlite3_bind_int64(s, 2, e->channel) ?:
             sqlite3_bind_int64(s, 3, e->utc_us) ?:
             sqlite3_bind_int64(s, 4, e->mono_us) ?:
             sqlite3_bind_text(s, 5, e->source, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 6, e->outcome, -1, SQLITE_STATIC) ?:
             sqlite3_bind_int64(s, 7, e->dose_nl) ?:
             sqlite3_bind_int64(s, 8, e->duration_us) ?:
             sqlite3_bind_int(s, 9, e->counts) ?:
             (e->uid < 0 ? sqlite3_bind_null(s, 10) : sqlite3_bind_int64(s, 10, e->uid)) ?:
             sqlite3_bind_text(s, 11, e->detail, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        r = db_step_done(d, s);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = sqlite3_last_insert_rowid(d->sqlite);
        return 0;
}

int db_pca_dose_ended(struct db *d, int64_t id, int64_t utc_us, int64_t delivered_nl) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || id <= 0 || delivered_nl < 0)
                return -EINVAL;

        /* The WHERE is what the trigger allows, so a denied row, an ended
         * one or no row at all is "no such open dose", never a refusal. */
        r = db_statement(d, DB_STMT_PCA_DOSE_ENDED,
                         "UPDATE pca_demands SET ended_utc_us = ?2, delivered_nl = ?3"
                         " WHERE id = ?1 AND outcome = 'granted' AND ended_utc_us IS NULL", &s);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(s, 1, id) ?:
             sqlite3_bind_int64(s, 2, utc_us) ?:
             sqlite3_bind_int64(s, 3, delivered_nl);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        r = db_step_done(d, s);
        if (r < 0)
                return r;
        return sqlite3_changes(d->sqlite) == 1 ? 0 : -ENOENT;
}

/* Columns in this order for every SELECT that fills a struct db_pca_demand. */
#define PCA_DEMAND_COLUMNS                                                      \
        "id, infusion_id, channel, utc_us, mono_us, source, outcome, dose_nl,"  \
        " duration_us, counts, uid, detail, ended_utc_us, delivered_nl"

/* Rows read out of a statement, so that the callbacks run with no
 * statement of ours open: a callback may then call into d, and a write it
 * makes commits at once instead of waiting for our read to finish. */
struct demand_rows {
        struct db_pca_demand *rows;
        size_t n;
};

static void demand_rows_done(struct demand_rows *rows) {
        for (size_t i = 0; i < rows->n; i++) {
                free((char *) rows->rows[i].source);
                free((char *) rows->rows[i].outcome);
                free((char *) rows->rows[i].detail);
        }
        free(rows->rows);
}

static int64_t column_int64_or(sqlite3_stmt *s, int i, int64_t null) {
        return sqlite3_column_type(s, i) == SQLITE_NULL ? null : sqlite3_column_int64(s, i);
}

static char *column_strdup(sqlite3_stmt *s, int i) {
        const char *text = (const char *) sqlite3_column_text(s, i);
        return text ? strdup(text) : NULL;
}

static int demand_rows_collect(struct db *d, sqlite3_stmt *s, struct demand_rows *rows) {
        int rc;

        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                struct db_pca_demand *p, *e;

                p = reallocarray(rows->rows, rows->n + 1, sizeof *p);
                if (!p)
                        return -ENOMEM;
                rows->rows = p;

                /* Counted in before the copies are checked, so that
                 * demand_rows_done() frees whatever was copied. */
                e = &rows->rows[rows->n++];
                *e = (struct db_pca_demand) {
                        .id = sqlite3_column_int64(s, 0),
                        .infusion_id = column_int64_or(s, 1, 0),
                        .channel = (unsigned) sqlite3_column_int64(s, 2),
                        .utc_us = sqlite3_column_int64(s, 3),
                        .mono_us = sqlite3_column_int64(s, 4),
                        .source = column_strdup(s, 5),
                        .outcome = column_strdup(s, 6),
                        .dose_nl = sqlite3_column_int64(s, 7),
                        .duration_us = sqlite3_column_int64(s, 8),
                        .counts = sqlite3_column_int(s, 9) != 0,
                        .uid = column_int64_or(s, 10, -1),
                        .detail = column_strdup(s, 11),
                        .ended_utc_us = column_int64_or(s, 12, 0),
                        .delivered_nl = column_int64_or(s, 13, 0),
                };
                /* source and outcome are NOT NULL: NULL here is out of memory */
                if (!e->source || !e->outcome ||
                    (!e->detail && sqlite3_column_type(s, 11) != SQLITE_NULL))
                        return -ENOMEM;
        }
        return rc == SQLITE_DONE ? 0 : db_fail(d, rc);
}

static int demand_rows_report(const struct demand_rows *rows, db_pca_demand_cb cb, void *userdata) {
        if (cb)
                for (size_t i = 0; i < rows->n; i++)
                        cb(&rows->rows[i], userdata);
        return (int) MIN(rows->n, (size_t) INT_MAX);
}

/* Run one of the demand queries: both take the channel and one integer
 * (a time, a count). Rows are read whole before any callback, so a
 * callback may write. */
static int demands_query(struct db *d, enum db_stmt id, const char *sql, unsigned channel, int64_t arg,
                         db_pca_demand_cb cb, void *userdata) {
        _cleanup_(demand_rows_done) struct demand_rows rows = {};
        int r;
        {
                _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
                int rc;

                if (!d)
                        return -EINVAL;
                r = db_statement(d, id, sql, &s);
                if (r < 0)
                        return r;
                rc = sqlite3_bind_int64(s, 1, channel) ?:
                     sqlite3_bind_int64(s, 2, arg);
                if (rc != SQLITE_OK)
                        return db_fail(d, rc);
                r = demand_rows_collect(d, s, &rows);
                if (r < 0)
                        return r;
        }
        return demand_rows_report(&rows, cb, userdata);
}

int db_pca_doses_since(struct db *d, unsigned channel, int64_t since_utc_us, db_pca_demand_cb cb, void *userdata) {
        /* Any source: a loading dose or a clinician bolus is in the window
         * too; whether it counts toward the limit is the row's counts. */
        return demands_query(d, DB_STMT_PCA_DOSES_SINCE,
                             "SELECT " PCA_DEMAND_COLUMNS " FROM pca_demands"
                             " WHERE channel = ?1 AND utc_us >= ?2 AND outcome = 'granted'"
                             " ORDER BY utc_us, id",
                             channel, since_utc_us, cb, userdata);
}

int db_pca_demands_recent(struct db *d, unsigned channel, unsigned limit, db_pca_demand_cb cb, void *userdata) {
        /* Newest by the wall clock, as the windows are; id breaks ties. */
        return demands_query(d, DB_STMT_PCA_DEMANDS_RECENT,
                             "SELECT " PCA_DEMAND_COLUMNS " FROM pca_demands"
                             " WHERE channel = ?1 ORDER BY utc_us DESC, id DESC LIMIT ?2",
                             channel, limit, cb, userdata);
}

int db_pca_demand_counts(struct db *d, unsigned channel, int64_t since_utc_us, uint64_t *ret_total,
                         uint64_t *ret_granted) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !ret_total || !ret_granted)
                return -EINVAL;

        /* Only the patient's demands: a loading dose or a clinician bolus
         * is no demand, though it is in the window. */
        r = db_statement(d, DB_STMT_PCA_DEMAND_COUNTS,
                         "SELECT count(*), coalesce(sum(outcome = 'granted'), 0) FROM pca_demands"
                         " WHERE channel = ?1 AND utc_us >= ?2"
                         " AND source IN ('button', 'dbus', 'simulator')", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, channel) ?:
             sqlite3_bind_int64(s, 2, since_utc_us);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret_total = (uint64_t) sqlite3_column_int64(s, 0);
        *ret_granted = (uint64_t) sqlite3_column_int64(s, 1);
        return 0;
}

int db_pca_flow_since(struct db *d, unsigned channel, int64_t since_utc_us, int64_t only_infusion_id, db_pca_flow_cb cb,
                      void *userdata) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        struct db_pca_flow rows[64];
        int r, rc, n = 0;

        if (!d)
                return -EINVAL;
        /* A dose cut short counts what it delivered; one the history never
         * closed, all of it: the flow is then never overstated away. */
        r = db_statement(d, DB_STMT_PCA_FLOW_SINCE,
                         "SELECT i.id, i.started_utc_us, i.ended_utc_us, i.volume_nl -"
                         " coalesce((SELECT sum(coalesce(p.delivered_nl, p.dose_nl)) FROM pca_demands p"
                         "           WHERE p.infusion_id = i.id AND p.outcome = 'granted'), 0)"
                         " FROM infusions i WHERE i.mode = 'pca' AND i.channel = ?1 AND i.status != 'active'"
                         " AND i.ended_utc_us >= ?2 AND (?3 = 0 OR i.id = ?3)"
                         " ORDER BY i.ended_utc_us DESC, i.id DESC LIMIT 64", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(s, 1, channel) ?:
             sqlite3_bind_int64(s, 2, since_utc_us) ?:
             sqlite3_bind_int64(s, 3, only_infusion_id);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        while ((rc = sqlite3_step(s)) == SQLITE_ROW && n < (int) ELEMENTSOF(rows)) {
                int64_t v = sqlite3_column_int64(s, 3);
                rows[n++] = (struct db_pca_flow) {
                        .infusion_id = sqlite3_column_int64(s, 0),
                        .started_utc_us = sqlite3_column_int64(s, 1),
                        .ended_utc_us = sqlite3_column_int64(s, 2),
                        .volume_nl = v > 0 ? v : 0,
                };
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return db_fail(d, rc);
        db_resetp(&s);
        s = NULL;
        /* Read first, then call back oldest first: a callback may write. */
        for (int i = n - 1; i >= 0; i--)
                if (cb)
                        cb(&rows[i], userdata);
        return n;
}
