/* SPDX-License-Identifier: MIT */
/* The daemon's own access check: a bus filter that sees every incoming
 * method call before any handler, so no handler can forget it and a method
 * added without a rule in daemon/access.c is refused to everyone. The
 * refusal is a named error and an audit row with the caller's uid. */
#include "daemon/bus.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/access.h"
#include "daemon/log.h"
#include "daemon/pump.h"

#define ERROR_ACCESS_DENIED "org.infusiond.pump1.Error.AccessDenied"
#define OUR_IFACE_PREFIX    "org.infusiond.pump1."

/* "Channel.Start": the method's name as the audit log writes it elsewhere. */
static void audit_method_name(const char *iface, const char *member, char *buf, size_t n) {
        if (iface && strncmp(iface, OUR_IFACE_PREFIX, strlen(OUR_IFACE_PREFIX)) == 0)
                iface += strlen(OUR_IFACE_PREFIX);
        snprintf(buf, n, "%.64s.%.64s", iface ?: "(no interface)", member ?: "(no member)");
}

static int64_t monotonic_us(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One audit row (and journal line) for the refusals of a flood's window
 * that were not audited one by one (daemon/denial-limit.h). */
static void report_not_audited(int64_t uid, unsigned n, int64_t window_us, void *userdata) {
        struct bus_ctx *b = userdata;
        char message[200];

        snprintf(message, sizeof(message),
                 "%u more refused calls from uid %" PRIi64 " within %" PRIi64 " s were not audited one by one "
                 "(at most %d a window per caller)",
                 n, uid, window_us / 1000000, DENIAL_AUDIT_BURST);
        pump_audit(b->pump, uid, "AccessDenied", BUS_PATH_MANAGER, NULL, ERROR_ACCESS_DENIED, message);
        log_notice("%s", message);
}

/* Report, now, what windows that have ended did not audit, and have the
 * timer fire at the end of the earliest window still holding a count. */
static void flush_denials(struct bus_ctx *b) {
        int64_t next = denial_limit_flush(&b->denials, monotonic_us());
        int enabled = SD_EVENT_OFF;
        uint64_t armed = 0;

        if (next <= 0)
                return;
        (void) sd_event_source_get_enabled(b->denial_flush, &enabled);
        if (enabled != SD_EVENT_OFF)
                (void) sd_event_source_get_time(b->denial_flush, &armed);
        if (enabled == SD_EVENT_OFF || (uint64_t) next < armed) {
                (void) sd_event_source_set_time(b->denial_flush, (uint64_t) next);
                (void) sd_event_source_set_enabled(b->denial_flush, SD_EVENT_ONESHOT);
        }
}

static int on_denial_flush(sd_event_source *s, uint64_t usec, void *userdata) {
        flush_denials(userdata);
        return 0;
}

/* Always "handled" (1): sd-bus runs the handler after a filter that
 * returns 0, and replying to a call sent with NO_REPLY_EXPECTED returns 0,
 * so returning the reply's result would let exactly those calls through. */
static int deny(struct bus_ctx *b, sd_bus_message *m, int64_t uid, const char *method, const char *why) {
        if (denial_limit_admit(&b->denials, uid, monotonic_us())) {
                bus_audit(b, m, method, NULL, ERROR_ACCESS_DENIED, why);
                log_notice("Refused %s from uid %" PRIi64 ": %s", method, uid, why);
        } else
                flush_denials(b);       /* counted only: its window's end will report it */
        int r = sd_bus_reply_method_errorf(m, ERROR_ACCESS_DENIED, "%s", why);
        if (r < 0)
                log_warning_errno(r, "Failed to send the refusal of %s: %m", method);
        return 1;
}

/* The user database can be slow (sssd, a directory behind it) and this
 * runs on the loop that renews the motor's lease: a caller's roles are
 * kept for ROLES_CACHE_USEC, so a change of groups takes effect within
 * that time. */
#define ROLES_CACHE_SIZE 16
#define ROLES_CACHE_USEC (10 * 1000000LL)
static struct {
        int64_t uid;
        unsigned roles;
        int64_t until_us;
} roles_cache[ROLES_CACHE_SIZE];
static unsigned roles_cache_next;

static unsigned roles_of(const struct access_groups *g, int64_t uid) {
        int64_t now = monotonic_us();
        for (unsigned i = 0; i < ROLES_CACHE_SIZE; i++)
                if (roles_cache[i].until_us > now && roles_cache[i].uid == uid)
                        return roles_cache[i].roles;
        unsigned roles = access_roles_of_uid(g, uid);
        unsigned i = roles_cache_next++ % ROLES_CACHE_SIZE;
        roles_cache[i].uid = uid;
        roles_cache[i].roles = roles;
        roles_cache[i].until_us = now + ROLES_CACHE_USEC;
        return roles;
}

static int on_incoming(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct bus_ctx *b = userdata;

        if (!sd_bus_message_is_method_call(m, NULL, NULL))
                return 0;
        const char *iface = sd_bus_message_get_interface(m);
        const char *member = sd_bus_message_get_member(m);
        const char *path = sd_bus_message_get_path(m);

        /* Standard interfaces (Properties, Introspectable, Peer,
         * ObjectManager) only read: sd-bus itself refuses Set, for there is
         * no writable property. A call without an interface would be
         * dispatched by member name alone, so it must name ours. */
        if (iface && strncmp(iface, OUR_IFACE_PREFIX, strlen(OUR_IFACE_PREFIX)) != 0)
                return 0;
        if (!iface && !(path && strncmp(path, BUS_PATH_MANAGER, strlen(BUS_PATH_MANAGER)) == 0))
                return 0;

        char method[160], why[320], have[96], need[96];
        audit_method_name(iface, member, method, sizeof(method));
        int64_t uid = bus_sender_uid(m);

        if (!iface) {
                snprintf(why, sizeof(why), "%s: a call must name its interface (org.infusiond.pump1.*)", method);
                return deny(b, m, uid, method, why);
        }
        unsigned required = access_required_roles(iface, member);
        if (required == 0) {
                snprintf(why, sizeof(why), "%s: no such method, or no rule grants it to anyone", method);
                return deny(b, m, uid, method, why);
        }
        unsigned roles = roles_of(&b->groups, uid);
        if (roles & required)
                return 0;       /* on to the handler */

        access_roles_to_string(roles, have, sizeof(have));
        if ((required & (required - 1)) == 0)   /* one role: name its group too */
                snprintf(why, sizeof(why), "%s needs the %s role (group %s); uid %" PRIi64 " has: %s", method,
                         access_role_to_string(required), access_role_group(required) ?: "none", uid, have);
        else
                snprintf(why, sizeof(why), "%s needs one of the roles %s; uid %" PRIi64 " has: %s", method,
                         access_roles_to_string(required, need, sizeof(need)), uid, have);
        return deny(b, m, uid, method, why);
}

int bus_add_access_check(struct bus_ctx *b) {
        denial_limit_init(&b->denials, report_not_audited, b);
        int r = sd_event_add_time(b->event, &b->denial_flush, CLOCK_MONOTONIC, 0, 100000, on_denial_flush, b);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(b->denial_flush, SD_EVENT_OFF);
        int found = access_groups_load(&b->groups);
        if (found < ACCESS_ROLE_COUNT - 1)
                log_warning("Only %d of the %d role groups exist (infusiond.sysusers creates them): the "
                            "missing roles are granted to nobody but root",
                            found, ACCESS_ROLE_COUNT - 1);
        return sd_bus_add_filter(b->bus, NULL, on_incoming, b);
}

void bus_report_denials(struct bus_ctx *b) {
        if (b)
                (void) denial_limit_flush(&b->denials, INT64_MAX);
}
