/* SPDX-License-Identifier: MIT */
#include "daemon/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-journal.h>

static bool to_journal;

void log_setup(void) {
        to_journal = getenv("JOURNAL_STREAM") != NULL;
}

int log_full_errno(int level, int error, const char *fmt, ...) {
        va_list ap;
        int saved = errno;

        if (error < 0)
                error = -error;
        errno = error;          /* for %m */
        if (to_journal)
                fprintf(stderr, "<%d>", level);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        errno = saved;
        return -error;
}

void log_struct(int level, const char *message_id, const char *fmt, ...) {
        char buf[512];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);

        if (to_journal &&
            sd_journal_send("MESSAGE=%s", buf, "MESSAGE_ID=%s", message_id,
                            "PRIORITY=%d", level, "SYSLOG_IDENTIFIER=infusiond", NULL) >= 0)
                return;
        log_full_errno(level, 0, "%s", buf);
}
