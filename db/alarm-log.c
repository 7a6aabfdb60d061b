/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <math.h>

#include "common/macros.h"
#include "db/db-private.h"

int db_alarm_event_add(struct db *d, const struct db_alarm_event *e) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !e || !e->alarm_id || !e->action || !e->condition || !e->priority || e->seq == 0 ||
            e->infusion_id < 0)
                return -EINVAL;

        r = db_statement(d, DB_STMT_ALARM_EVENT_ADD,
                         "INSERT INTO alarm_events (alarm_id, seq, infusion_id, channel, action, condition,"
                         " priority, utc_us, mono_us, uid, pressure_mmhg, volume_nl, message)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)", &s);
        if (r < 0)
                return r;

        /* sqlite3_bind_text binds NULL for a NULL pointer. */
        rc = sqlite3_bind_text(s, 1, e->alarm_id, -1, SQLITE_STATIC) ?:
             sqlite3_bind_int64(s, 2, e->seq) ?:
             (e->infusion_id > 0 ? sqlite3_bind_int64(s, 3, e->infusion_id) : sqlite3_bind_null(s, 3)) ?:
             sqlite3_bind_int64(s, 4, e->channel) ?:
             sqlite3_bind_text(s, 5, e->action, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 6, e->condition, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 7, e->priority, -1, SQLITE_STATIC) ?:
             sqlite3_bind_int64(s, 8, e->utc_us) ?:
             sqlite3_bind_int64(s, 9, e->mono_us) ?:
             (e->uid < 0 ? sqlite3_bind_null(s, 10) : sqlite3_bind_int64(s, 10, e->uid)) ?:
             (isfinite(e->pressure_mmhg) ? sqlite3_bind_double(s, 11, e->pressure_mmhg)
                                         : sqlite3_bind_null(s, 11)) ?:
             sqlite3_bind_int64(s, 12, e->volume_nl) ?:
             sqlite3_bind_text(s, 13, e->message, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return db_step_done(d, s);
}

int db_alarm_next_seq(struct db *d, unsigned *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !ret)
                return -EINVAL;
        r = db_statement(d, DB_STMT_ALARM_NEXT_SEQ, "SELECT coalesce(max(seq), 0) FROM alarm_events", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);
        int64_t max_seq = sqlite3_column_int64(s, 0);
        if (max_seq < 0 || max_seq >= UINT_MAX)
                return db_failf(d, -ERANGE, "alarm seq %lld is out of range", (long long) max_seq);
        *ret = (unsigned) max_seq + 1;
        return 0;
}
