/* SPDX-License-Identifier: MIT */
#pragma once

/* SQL that turns a schema 6 file back into a schema 5 one (the audit
 * chain and the retention fences gone, the old guards back), for the
 * tests that migrate an older file forward. */
#define UNDO_SCHEMA_6                                                                           \
        "DROP VIEW v_audit; DROP VIEW v_retention;"                                             \
        "DROP INDEX pca_demands_infusion_id; DROP INDEX alarm_events_infusion_id;"              \
        "DROP TRIGGER audit_no_delete; DROP TRIGGER audit_chained; DROP TRIGGER audit_no_update;" \
        "DROP TRIGGER alarm_events_no_delete; DROP TRIGGER pca_demands_no_delete;"              \
        "DROP TRIGGER delivery_samples_no_delete; DROP TRIGGER events_no_delete;"               \
        "DROP TRIGGER limit_events_no_delete; DROP TRIGGER infusions_no_delete;"                \
        "DROP TRIGGER drug_libraries_no_delete;"                                                \
        "DROP TABLE audit_anchor; DROP TABLE retention;"                                        \
        "ALTER TABLE audit DROP COLUMN chain_sha256;"                                           \
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"                                 \
        "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"                             \
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"                                 \
        "  BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;"                             \
        "CREATE TRIGGER alarm_events_no_delete BEFORE DELETE ON alarm_events"                   \
        "  BEGIN SELECT RAISE(ABORT, 'alarm events are append-only'); END;"                     \
        "CREATE TRIGGER pca_demands_no_delete BEFORE DELETE ON pca_demands"                     \
        "  BEGIN SELECT RAISE(ABORT, 'PCA demands are append-only'); END;"                      \
        "CREATE TRIGGER delivery_samples_no_delete BEFORE DELETE ON delivery_samples"           \
        "  BEGIN SELECT RAISE(ABORT, 'delivery samples are append-only'); END;"                 \
        "PRAGMA user_version = 5;"
