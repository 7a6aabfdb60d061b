/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "common/macros.h"
#include "db/db-private.h"

static int sample_insert(struct db *d, const struct db_delivery_sample *sample) {
        _cleanup_(db_resetp) sqlite3_stmt *s = NULL;
        int r, rc;

        r = db_statement(d, DB_STMT_DELIVERY_SAMPLE_ADD,
                         "INSERT INTO delivery_samples (infusion_id, channel, utc_us, mono_us, volume_nl,"
                         " rate_nl_per_h) VALUES (?1, ?2, ?3, ?4, ?5, ?6)", &s);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(s, 1, sample->infusion_id) ?:
             sqlite3_bind_int64(s, 2, sample->channel) ?:
             sqlite3_bind_int64(s, 3, sample->utc_us) ?:
             sqlite3_bind_int64(s, 4, sample->mono_us) ?:
             sqlite3_bind_int64(s, 5, sample->volume_nl) ?:
             sqlite3_bind_int64(s, 6, sample->rate_nl_per_h);
        if (rc != SQLITE_OK)
                return db_fail(d, rc);

        return db_step_done(d, s);
}

int db_delivery_sample_add(struct db *d, const struct db_delivery_sample *sample) {
        int r, q;

        if (!d || !sample || sample->infusion_id <= 0)
                return -EINVAL;

        /* synchronous=NORMAL, as for checkpoints (history.c has the
         * figures): a sample comes once a minute per channel and at every
         * change of motion. kill -9 loses nothing. Power loss may lose the
         * samples since the last FULL commit; the WAL keeps a prefix, so
         * what is lost is the newest few and what remains stays exact (an
         * interrupted infusion never gets later samples). What a restart
         * needs for PCA is in pca_demands, written FULL. */
        r = db_set_synchronous(d, false);
        if (r < 0)
                return r;
        r = sample_insert(d, sample);
        /* FULL again even when the insert failed: every other write
         * depends on it. */
        q = db_set_synchronous(d, true);
        return r < 0 ? r : q;
}
