/* SPDX-License-Identifier: MIT */
#pragma once

/* The schema and its forward migrations, versioned by PRAGMA user_version. */

struct db;

/* The file's PRAGMA user_version (>= 0), or a negative errno. */
int db_user_version(struct db *d);

/* The file's version if this build can use it (<= DB_SCHEMA_VERSION),
 * else -EPROTO. Reads only. */
int db_check_schema(struct db *d);

/* Bring the file to DB_SCHEMA_VERSION, one transaction per step with the
 * version bump inside it, so a crash leaves a whole version. Safe against
 * another process migrating at the same time. -EPROTO if the file is newer
 * than DB_SCHEMA_VERSION (nothing is changed). */
int db_migrate(struct db *d);
