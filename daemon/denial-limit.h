/* SPDX-License-Identifier: MIT */
/* How many access refusals are audited one by one. Every refused call is
 * still refused by name; but a caller that floods the daemon with calls it
 * may not make must not fill the history's disk with audit rows (a full
 * disk raises history-unavailable and refuses Start: a denial of therapy).
 * So, per caller (uid), the first DENIAL_AUDIT_BURST refusals in a window
 * of DENIAL_AUDIT_WINDOW_US are audited; the rest are counted, and when the
 * window ends one row says how many. Pure logic, on the caller's clock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* A person exploring what their role allows stays well under this; a
 * program looping on a refused call is over it within a second. */
#define DENIAL_AUDIT_BURST     60
#define DENIAL_AUDIT_WINDOW_US (60 * 1000000LL)
/* Callers followed at once; more evict the oldest window, reporting it. */
#define DENIAL_LIMIT_SLOTS     32

/* Told, once a caller's window has ended (or its slot is taken), how many
 * of its refusals in that window were not audited one by one. */
typedef void (*denial_report_fn)(int64_t uid, unsigned not_audited, int64_t window_us, void *userdata);

struct denial_limit {
        struct {
                bool used;
                int64_t uid;
                int64_t window_start_us;
                unsigned audited, not_audited;
        } slot[DENIAL_LIMIT_SLOTS];
        denial_report_fn report;
        void *userdata;
};

void denial_limit_init(struct denial_limit *d, denial_report_fn report, void *userdata);

/* A refusal of uid's call at now_us: true if it is to be audited one by
 * one, false if only counted. */
bool denial_limit_admit(struct denial_limit *d, int64_t uid, int64_t now_us);

/* Reports every window that has ended with refusals not audited, and
 * returns when the next such window ends (0: none is pending): the time to
 * call this again. */
int64_t denial_limit_flush(struct denial_limit *d, int64_t now_us);
