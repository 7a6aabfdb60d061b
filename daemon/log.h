/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging for the daemon (only daemon/ logs; lower layers return errors).
 * Under systemd (JOURNAL_STREAM set) lines carry a syslog priority prefix
 * and structured records go to the journal with a MESSAGE_ID; on a
 * terminal they are plain lines on stderr. */

#include <errno.h>
#include <syslog.h>

void log_setup(void);
int log_full_errno(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)
/* Sets errno to -r for %m and returns r (negative), systemd style. */
#define log_warning_errno(r, ...) log_full_errno(LOG_WARNING, r, __VA_ARGS__)
#define log_error_errno(r, ...)   log_full_errno(LOG_ERR, r, __VA_ARGS__)

/* MESSAGE_IDs of the records that matter to people (journalctl
 * MESSAGE_ID=...). catalog/infusiond.catalog explains each (journalctl -x). */
#define MESSAGE_ID_INFUSION_STARTED   "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f01"
#define MESSAGE_ID_INFUSION_ENDED     "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f02"
#define MESSAGE_ID_ALARM_RAISED       "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f03"
#define MESSAGE_ID_ALARM_ACKNOWLEDGED "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f04"
#define MESSAGE_ID_INTERRUPTED        "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f05"
#define MESSAGE_ID_LIMIT_OVERRIDE     "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f06"
#define MESSAGE_ID_LIBRARY_IMPORTED   "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f07"
/* The audit chain's head at start-up and stop: a witness outside the
 * database file. */
#define MESSAGE_ID_AUDIT_HEAD         "3f6c1b0e8a2d4c5f9e1a7b3c5d7e9f08"

/* A structured record: MESSAGE_ID plus the formatted MESSAGE. */
void log_struct(int level, const char *message_id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
