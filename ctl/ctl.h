/* SPDX-License-Identifier: MIT */
#pragma once

/* What the parts of infusionctl share: the bus names, exit statuses and
 * the way errors are reported. */

#include <stdbool.h>
#include <stdio.h>

#include <systemd/sd-bus.h>

#define BUS_NAME                "org.infusiond.pump1"
#define ROOT_PATH               "/org/infusiond/pump1"
#define ERROR_PREFIX            BUS_NAME ".Error."
#define PROPERTIES_IFACE        "org.freedesktop.DBus.Properties"
#define DEFAULT_SYSTEM_BUS      "unix:path=/run/dbus/system_bus_socket"

enum {
        EXIT_OK = 0,
        EXIT_ERROR = 1,         /* D-Bus or daemon error, or a file that cannot be used */
        EXIT_USAGE = 2,         /* bad command line */
        EXIT_HALTED = 3,        /* monitor: the infusion was halted by an alarm */
        EXIT_INTERRUPTED = 130, /* monitor: SIGINT/SIGTERM */
};

bool streq_ptr(const char *a, const char *b);

/* "infusionctl: MESSAGE" and the --help pointer on stderr; EXIT_USAGE. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a failed call as "infusionctl: <message> (<error name>)", the
 * daemon's own wording, plus a hint where the cause is usually on the
 * caller's side; what is used when the failure is not a D-Bus error, and
 * unknown_object_hint (may be NULL) when the object or interface does not
 * exist. Returns EXIT_ERROR. */
int log_call_error(int r, const sd_bus_error *error, const char *what, const char *unknown_object_hint);

/* Connects to the system bus (or DBUS_SYSTEM_BUS_ADDRESS); EXIT_OK, or
 * EXIT_ERROR after saying why not. */
int connect_bus(sd_bus **ret);

/* s on f with control characters shown as spaces: text from the daemon
 * stays on its line and cannot drive the terminal. NULL prints nothing. */
void fputs_one_line(const char *s, FILE *f);
