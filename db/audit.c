/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "common/macros.h"
#include "db/db-private.h"

int db_audit_add(struct db *d, const struct db_audit *a) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !a || !a->method || !a->object || !a->outcome)
                return -EINVAL;

        r = db_statement(d, DB_STMT_AUDIT_ADD,
                         "INSERT INTO audit (utc_us, uid, method, object, args, outcome, message)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)", &s);
        if (r < 0)
                return r;

        /* Binds chain with ?: (SQLITE_OK is 0). Strings are the caller's,
         * read only by the step below. An unknown uid is NULL, not -1, so
         * a reader's "uid = 0" or "uid < 1000" cannot match it. */
        rc = sqlite3_bind_int64(s, 1, a->utc_us) ?:
             (a->uid < 0 ? sqlite3_bind_null(s, 2) : sqlite3_bind_int64(s, 2, a->uid)) ?:
             sqlite3_bind_text(s, 3, a->method, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 4, a->object, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 5, a->args, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 6, a->outcome, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 7, a->message, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        return db_step_done(d, s);
}
