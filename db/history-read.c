/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "common/macros.h"
#include "db/db-private.h"

/* Reading the history for the History D-Bus object and the exports.
 * Keyset paging on id: "id > after_id ORDER BY id LIMIT n" costs the same
 * on the last page of a year as on the first, where OFFSET would read and
 * throw away every row before it. The rows of one page are read inside one
 * read transaction, so a page is one consistent state of the file. */

static bool page_valid(const struct db_page *p) {
        return p && p->since_utc_us >= 0 && p->until_utc_us > p->since_utc_us && p->after_id >= 0 &&
               p->limit >= 1 && p->limit <= DB_PAGE_MAX;
}

static const char *column_text(sqlite3_stmt *s, int i) {
        return (const char *) sqlite3_column_text(s, i);
}

static int64_t column_int64_or(sqlite3_stmt *s, int i, int64_t null_value) {
        return sqlite3_column_type(s, i) == SQLITE_NULL ? null_value : sqlite3_column_int64(s, i);
}

/* The last id a bounded page may look at: DB_SCAN_ROWS past the cursor. */
static int64_t scan_end(const struct db_page *p) {
        return p->after_id > INT64_MAX - DB_SCAN_ROWS ? INT64_MAX : p->after_id + DB_SCAN_ROWS;
}

/* Bind the page's range and cursor as ?1 since, ?2 until, ?3 after_id,
 * ?4 limit, and (for a bounded walk) ?6 the scan's end. */
static int bind_page(sqlite3_stmt *s, const struct db_page *p) {
        return sqlite3_bind_int64(s, 1, p->since_utc_us) ?:
               sqlite3_bind_int64(s, 2, p->until_utc_us) ?:
               sqlite3_bind_int64(s, 3, p->after_id) ?:
               sqlite3_bind_int64(s, 4, p->limit) ?:
               (sqlite3_bind_parameter_index(s, "?6") > 0 ? sqlite3_bind_int64(s, 6, scan_end(p)) : SQLITE_OK);
}

struct walk {
        int (*row)(sqlite3_stmt *s, void *cb, void *userdata);
        void *cb, *userdata;
        const char *table;              /* bounded: the table, for its newest id; NULL: not bounded */
};

static int max_id(struct db *d, const char *table, int64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *s = NULL;
        char sql[64];
        int rc;

        /* max(rowid) is one step down the table's b-tree, not a scan. */
        snprintf(sql, sizeof sql, "SELECT coalesce(max(id), 0) FROM %s", table);
        rc = sqlite3_prepare_v2(d->sqlite, sql, -1, &s, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        *ret = sqlite3_column_int64(s, 0);
        return 0;
}

/* Step s (its first column is the id), handing each row to w->row; the
 * whole walk, and the look at the newest id, in one read transaction. */
static int walk(struct db *d, sqlite3_stmt *s, const struct db_page *page, const struct walk *w,
                int64_t *ret_next) {
        int64_t last_id = 0, newest = 0;
        int n = 0, r, rc;

        r = db_read_begin(d);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                last_id = sqlite3_column_int64(s, 0);
                r = w->row(s, w->cb, w->userdata);
                if (r < 0)
                        goto finish;
                n++;
        }
        if (rc != SQLITE_DONE) {
                r = db_fail(d, rc);
                goto finish;
        }
        r = n;
        if ((unsigned) n == page->limit)
                *ret_next = last_id;            /* full: more may follow */
        else if (w->table && scan_end(page) < INT64_MAX) {
                /* short because the scan ended: more if ids go on */
                int q = max_id(d, w->table, &newest);
                if (q < 0)
                        r = q;
                else
                        *ret_next = newest > scan_end(page) ? scan_end(page) : 0;
        } else
                *ret_next = 0;
finish:
        sqlite3_reset(s);
        db_read_end(d);
        return r;
}

#define INFUSION_LIST_COLUMNS                                                           \
        "id, channel, mode, status, rate_nl_per_h, vtbi_nl, kvo_rate_nl_per_h, volume_nl," \
        " started_utc_us, started_mono_us, ended_utc_us, checkpoint_utc_us, care_area,"  \
        " drug_id, drug_name, dose_rate, dose_unit, concentration, library_sha256"
/* Overlapping the range: started before its end, and not ended before its
 * start (a running infusion has no end). */
#define INFUSION_LIST_WHERE                                                             \
        " WHERE started_utc_us < ?2 AND (ended_utc_us IS NULL OR ended_utc_us >= ?1) AND id > ?3"

static int infusion_row(sqlite3_stmt *s, void *cb, void *userdata) {
        const struct db_infusion inf = {
                .id = sqlite3_column_int64(s, 0),
                .channel = (unsigned) sqlite3_column_int64(s, 1),
                .mode = column_text(s, 2),
                .status = column_text(s, 3),
                .rate_nl_per_h = sqlite3_column_int64(s, 4),
                .vtbi_nl = sqlite3_column_int64(s, 5),
                .kvo_rate_nl_per_h = sqlite3_column_int64(s, 6),
                .volume_nl = sqlite3_column_int64(s, 7),
                .started_utc_us = sqlite3_column_int64(s, 8),
                .started_mono_us = sqlite3_column_int64(s, 9),
                .ended_utc_us = column_int64_or(s, 10, 0),
                .checkpoint_utc_us = sqlite3_column_int64(s, 11),
                .care_area = column_text(s, 12),
                .drug_id = column_text(s, 13),
                .drug_name = column_text(s, 14),
                .dose_rate = sqlite3_column_type(s, 15) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 15),
                .dose_unit = column_text(s, 16),
                .concentration = column_text(s, 17),
                .library_sha256 = column_text(s, 18),
        };
        return ((db_infusion_row_cb) cb)(&inf, userdata);
}

int db_infusions_list(struct db *d, const struct db_page *page, const char *drug, db_infusion_row_cb cb,
                      void *userdata, int64_t *ret_next_after_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || !cb || !ret_next_after_id)
                return -EINVAL;
        if (drug)
                r = db_statement(d, DB_STMT_INFUSIONS_LIST_DRUG,
                                 "SELECT " INFUSION_LIST_COLUMNS " FROM infusions" INFUSION_LIST_WHERE
                                 " AND id <= ?6 AND (drug_id = ?5 COLLATE NOCASE OR drug_name = ?5 COLLATE NOCASE)"
                                 " ORDER BY id LIMIT ?4", &s);
        else
                r = db_statement(d, DB_STMT_INFUSIONS_LIST,
                                 "SELECT " INFUSION_LIST_COLUMNS " FROM infusions" INFUSION_LIST_WHERE
                                 " AND id <= ?6 ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: (drug ? sqlite3_bind_text(s, 5, drug, -1, SQLITE_STATIC) : SQLITE_OK);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, page, &(struct walk) { infusion_row, (void *) cb, userdata, "infusions" },
                    ret_next_after_id);
}

static int event_row(sqlite3_stmt *s, void *cb, void *userdata) {
        const struct db_event e = {
                .id = sqlite3_column_int64(s, 0),
                .infusion_id = column_int64_or(s, 1, 0),
                .channel = (unsigned) sqlite3_column_int64(s, 2),
                .utc_us = sqlite3_column_int64(s, 3),
                .mono_us = column_int64_or(s, 4, -1),
                .kind = column_text(s, 5),
                .from_state = column_text(s, 6),
                .to_state = column_text(s, 7),
                .volume_nl = sqlite3_column_int64(s, 8),
                .detail = column_text(s, 9),
        };
        return ((db_event_row_cb) cb)(&e, userdata);
}

#define EVENT_COLUMNS "id, infusion_id, channel, utc_us, mono_us, kind, from_state, to_state, volume_nl, detail"

int db_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_event_row_cb cb,
                   void *userdata, int64_t *ret_next_after_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || infusion_id < 0 || !cb || !ret_next_after_id)
                return -EINVAL;
        /* One infusion's: the events_infusion_id index, in id order. */
        if (infusion_id > 0)
                r = db_statement(d, DB_STMT_EVENTS_LIST_INFUSION,
                                 "SELECT " EVENT_COLUMNS " FROM events"
                                 " WHERE infusion_id = ?5 AND id > ?3 AND utc_us >= ?1 AND utc_us < ?2"
                                 " ORDER BY id LIMIT ?4", &s);
        else
                r = db_statement(d, DB_STMT_EVENTS_LIST,
                                 "SELECT " EVENT_COLUMNS " FROM events"
                                 " WHERE id > ?3 AND id <= ?6 AND utc_us >= ?1 AND utc_us < ?2"
                                 " ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: (infusion_id > 0 ? sqlite3_bind_int64(s, 5, infusion_id) : SQLITE_OK);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, page, &(struct walk) { event_row, (void *) cb, userdata, infusion_id > 0 ? NULL : "events" },
                    ret_next_after_id);
}

static int alarm_row(sqlite3_stmt *s, void *cb, void *userdata) {
        const struct db_alarm_event e = {
                .id = sqlite3_column_int64(s, 0),
                .alarm_id = column_text(s, 1),
                .seq = (unsigned) sqlite3_column_int64(s, 2),
                .infusion_id = column_int64_or(s, 3, 0),
                .channel = (unsigned) sqlite3_column_int64(s, 4),
                .action = column_text(s, 5),
                .condition = column_text(s, 6),
                .priority = column_text(s, 7),
                .utc_us = sqlite3_column_int64(s, 8),
                .mono_us = column_int64_or(s, 9, -1),
                .uid = column_int64_or(s, 10, -1),
                .pressure_mmhg = sqlite3_column_type(s, 11) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 11),
                .volume_nl = sqlite3_column_int64(s, 12),
                .message = column_text(s, 13),
        };
        return ((db_alarm_row_cb) cb)(&e, userdata);
}

#define ALARM_COLUMNS                                                                           \
        "id, alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us, mono_us, uid," \
        " pressure_mmhg, volume_nl, message"

int db_alarm_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_alarm_row_cb cb,
                         void *userdata, int64_t *ret_next_after_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || infusion_id < 0 || !cb || !ret_next_after_id)
                return -EINVAL;
        if (infusion_id > 0)
                r = db_statement(d, DB_STMT_ALARM_EVENTS_LIST_INFUSION,
                                 "SELECT " ALARM_COLUMNS " FROM alarm_events"
                                 " WHERE infusion_id = ?5 AND id > ?3 AND utc_us >= ?1 AND utc_us < ?2"
                                 " ORDER BY id LIMIT ?4", &s);
        else
                r = db_statement(d, DB_STMT_ALARM_EVENTS_LIST,
                                 "SELECT " ALARM_COLUMNS " FROM alarm_events"
                                 " WHERE id > ?3 AND id <= ?6 AND utc_us >= ?1 AND utc_us < ?2"
                                 " ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: (infusion_id > 0 ? sqlite3_bind_int64(s, 5, infusion_id) : SQLITE_OK);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, page,
                    &(struct walk) { alarm_row, (void *) cb, userdata, infusion_id > 0 ? NULL : "alarm_events" },
                    ret_next_after_id);
}
