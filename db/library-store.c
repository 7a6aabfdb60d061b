/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "db/db-private.h"

int db_sha256_hex(const void *data, size_t size, char ret[static 65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        if (EVP_Digest(data, size, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        for (unsigned i = 0; i < len; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

int db_library_store(struct db *d, struct db_library *lib, int64_t *ret_id) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !lib || !lib->version || !lib->json)
                return -EINVAL;
        r = db_sha256_hex(lib->json, strlen(lib->json), lib->sha256);
        if (r < 0)
                return db_failf(d, r, "cannot compute SHA-256");

        r = db_statement(d, DB_STMT_LIBRARY_STORE,
                         "INSERT INTO drug_libraries (version, sha256, imported_utc_us, imported_by_uid, json)"
                         " VALUES (?1, ?2, ?3, ?4, ?5)", &s);
        if (r < 0)
                return r;
        rc = sqlite3_bind_text(s, 1, lib->version, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 2, lib->sha256, -1, SQLITE_STATIC) ?:
             sqlite3_bind_int64(s, 3, lib->imported_utc_us) ?:
             (lib->imported_by_uid < 0 ? sqlite3_bind_null(s, 4) : sqlite3_bind_int64(s, 4, lib->imported_by_uid)) ?:
             sqlite3_bind_text(s, 5, lib->json, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        r = db_step_done(d, s);
        if (r < 0)
                return r;
        lib->id = sqlite3_last_insert_rowid(d->sqlite);
        if (ret_id)
                *ret_id = lib->id;
        return 0;
}

int db_library_current(struct db *d, struct db_library *ret) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !ret)
                return -EINVAL;
        r = db_statement(d, DB_STMT_LIBRARY_CURRENT,
                         "SELECT id, version, sha256, imported_utc_us, imported_by_uid, json"
                         " FROM drug_libraries ORDER BY id DESC LIMIT 1", &s);
        if (r < 0)
                return r;
        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return -ENOENT;
        if (rc != SQLITE_ROW)
                return db_fail(d, rc);

        _cleanup_(freep) char *version = strdup((const char *) sqlite3_column_text(s, 1) ?: "");
        _cleanup_(freep) char *json = strdup((const char *) sqlite3_column_text(s, 5) ?: "");
        if (!version || !json)
                return -ENOMEM;

        struct db_library lib = {
                .id = sqlite3_column_int64(s, 0),
                .imported_utc_us = sqlite3_column_int64(s, 3),
                .imported_by_uid = sqlite3_column_type(s, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 4),
        };
        snprintf(lib.sha256, sizeof(lib.sha256), "%s", (const char *) sqlite3_column_text(s, 2) ?: "");
        free(d->got_library_version);
        free(d->got_library_json);
        lib.version = d->got_library_version = TAKE_PTR(version);
        lib.json = d->got_library_json = TAKE_PTR(json);
        *ret = lib;
        return 0;
}

int db_limit_event_add(struct db *d, const struct db_limit_event *e) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        if (!d || !e || !e->kind)
                return -EINVAL;
        r = db_statement(d, DB_STMT_LIMIT_EVENT_ADD,
                         "INSERT INTO limit_events (utc_us, channel, care_area, drug_id, kind, value, unit,"
                         " reason, message, uid, library_sha256)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &s);
        if (r < 0)
                return r;
        /* sqlite3_bind_text binds NULL for a NULL pointer. */
        rc = sqlite3_bind_int64(s, 1, e->utc_us) ?:
             sqlite3_bind_int64(s, 2, e->channel) ?:
             sqlite3_bind_text(s, 3, e->care_area, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 4, e->drug_id, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 5, e->kind, -1, SQLITE_STATIC) ?:
             (isfinite(e->value) ? sqlite3_bind_double(s, 6, e->value) : sqlite3_bind_null(s, 6)) ?:
             sqlite3_bind_text(s, 7, e->unit, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 8, e->reason, -1, SQLITE_STATIC) ?:
             sqlite3_bind_text(s, 9, e->message, -1, SQLITE_STATIC) ?:
             (e->uid < 0 ? sqlite3_bind_null(s, 10) : sqlite3_bind_int64(s, 10, e->uid)) ?:
             sqlite3_bind_text(s, 11, e->library_sha256, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);
        return db_step_done(d, s);
}
