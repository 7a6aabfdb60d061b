/* SPDX-License-Identifier: MIT */
#pragma once

/* The D-Bus face of the daemon (docs/API.md). Each interface lives in its
 * own file; this header is what they share. */

#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "daemon/access.h"
#include "daemon/denial-limit.h"
#include "daemon/pump.h"

#define BUS_NAME            "org.infusiond.pump1"
#define BUS_PATH_MANAGER    "/org/infusiond/pump1"
#define BUS_PATH_CHANNEL0   "/org/infusiond/pump1/channel/0"
#define BUS_PATH_SIMULATOR  "/org/infusiond/pump1/simulator"
#define BUS_PATH_LIBRARY    "/org/infusiond/pump1/library"
#define BUS_PATH_HISTORY    "/org/infusiond/pump1/history"
#define BUS_IFACE_MANAGER   "org.infusiond.pump1.Manager"
#define BUS_IFACE_CHANNEL   "org.infusiond.pump1.Channel"
#define BUS_IFACE_SIMULATOR "org.infusiond.pump1.Simulator"
#define BUS_IFACE_LIBRARY   "org.infusiond.pump1.DrugLibrary"
#define BUS_IFACE_HISTORY   "org.infusiond.pump1.History"

struct bus_ctx {
        sd_bus *bus;
        sd_event *event;
        struct pump *pump;

        /* Fast-moving properties go out at most once a second. */
        int64_t last_progress_emit_us;
        bool progress_pending;
        sd_event_source *progress_timer;

        /* The role groups' gids, for the access check (bus-access.c). */
        struct access_groups groups;
        /* How many refusals are audited one by one, per caller, and the
         * timer that reports what a flood's window did not audit. */
        struct denial_limit denials;
        sd_event_source *denial_flush;
};

/* Connect to the system bus, publish every object, take the name. */
int bus_setup(sd_event *e, struct pump *p, struct bus_ctx **ret);
struct bus_ctx *bus_free(struct bus_ctx *b);
static inline void bus_freep(struct bus_ctx **b) { bus_free(*b); }

/* Refuse, name and audit every call to our interfaces that the caller's
 * roles do not allow (daemon/access.h), before any handler runs. */
int bus_add_access_check(struct bus_ctx *b);
/* Audit now what flooding callers' windows have not yet reported (at
 * shutdown, before the audit chain's head is logged). */
void bus_report_denials(struct bus_ctx *b);
int bus_add_manager(struct bus_ctx *b);
int bus_add_channel(struct bus_ctx *b);
int bus_add_simulator(struct bus_ctx *b);
int bus_add_library(struct bus_ctx *b);
int bus_add_history(struct bus_ctx *b);

/* Reply to a command and audit it. r < 0 with *perr filled sends the named
 * error; r >= 0 sends an empty reply. args summarises the call. */
int bus_finish_command(struct bus_ctx *b, sd_bus_message *m, const char *method, const char *args,
                       int r, const struct pump_error *perr, sd_bus_error *error);

/* sd_bus_error_setf() with the text made valid UTF-8 first: messages quote
 * callers' strings with a precision ("%.64s"), which can cut a character,
 * and sd-bus will not send a string that is not UTF-8: the caller would
 * get no reply at all. Every named error the daemon sends goes through
 * this. Returns -EINVAL (or -ENOMEM), like sd_bus_error_setf(). */
int bus_error_setf(sd_bus_error *error, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The caller's effective uid, -1 when it cannot be known. */
int64_t bus_sender_uid(sd_bus_message *m);

/* Audit a call with the sender's uid. */
void bus_audit(struct bus_ctx *b, sd_bus_message *m, const char *method, const char *args,
               const char *outcome, const char *message);

/* Flush pending throttled property changes now. */
void bus_emit_progress(struct bus_ctx *b);
