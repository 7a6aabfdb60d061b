/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdint.h>

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

/* Bind the page's range and cursor as ?1 since, ?2 until, ?3 after_id,
 * ?4 limit. */
static int bind_page(sqlite3_stmt *s, const struct db_page *p) {
        return sqlite3_bind_int64(s, 1, p->since_utc_us) ?:
               sqlite3_bind_int64(s, 2, p->until_utc_us) ?:
               sqlite3_bind_int64(s, 3, p->after_id) ?:
               sqlite3_bind_int64(s, 4, p->limit);
}

/* Step s, handing each row to row(); the whole walk in one read
 * transaction. */
static int walk(struct db *d, sqlite3_stmt *s, int (*row)(sqlite3_stmt *s, void *cb, void *userdata), void *cb,
                void *userdata) {
        int n = 0, r, rc;

        r = db_read_begin(d);
        if (r < 0)
                return r;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
                r = row(s, cb, userdata);
                if (r < 0)
                        goto finish;
                n++;
        }
        r = rc == SQLITE_DONE ? n : db_fail(d, rc);
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
                      void *userdata) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || !cb)
                return -EINVAL;
        if (drug)
                r = db_statement(d, DB_STMT_INFUSIONS_LIST_DRUG,
                                 "SELECT " INFUSION_LIST_COLUMNS " FROM infusions" INFUSION_LIST_WHERE
                                 " AND (drug_id = ?5 COLLATE NOCASE OR drug_name = ?5 COLLATE NOCASE)"
                                 " ORDER BY id LIMIT ?4", &s);
        else
                r = db_statement(d, DB_STMT_INFUSIONS_LIST,
                                 "SELECT " INFUSION_LIST_COLUMNS " FROM infusions" INFUSION_LIST_WHERE
                                 " ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: (drug ? sqlite3_bind_text(s, 5, drug, -1, SQLITE_STATIC) : SQLITE_OK);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, infusion_row, (void *) cb, userdata);
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

int db_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_event_row_cb cb,
                   void *userdata) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || infusion_id < 0 || !cb)
                return -EINVAL;
        r = db_statement(d, DB_STMT_EVENTS_LIST,
                         "SELECT id, infusion_id, channel, utc_us, mono_us, kind, from_state, to_state,"
                         " volume_nl, detail FROM events"
                         " WHERE utc_us >= ?1 AND utc_us < ?2 AND id > ?3 AND (?5 = 0 OR infusion_id = ?5)"
                         " ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: sqlite3_bind_int64(s, 5, infusion_id);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, event_row, (void *) cb, userdata);
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

int db_alarm_events_list(struct db *d, const struct db_page *page, int64_t infusion_id, db_alarm_row_cb cb,
                         void *userdata) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !page_valid(page) || infusion_id < 0 || !cb)
                return -EINVAL;
        r = db_statement(d, DB_STMT_ALARM_EVENTS_LIST,
                         "SELECT id, alarm_id, seq, infusion_id, channel, action, condition, priority, utc_us,"
                         " mono_us, uid, pressure_mmhg, volume_nl, message FROM alarm_events"
                         " WHERE utc_us >= ?1 AND utc_us < ?2 AND id > ?3 AND (?5 = 0 OR infusion_id = ?5)"
                         " ORDER BY id LIMIT ?4", &s);
        if (r < 0)
                return r;
        rc = bind_page(s, page) ?: sqlite3_bind_int64(s, 5, infusion_id);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return walk(d, s, alarm_row, (void *) cb, userdata);
}
