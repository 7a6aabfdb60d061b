/* SPDX-License-Identifier: MIT */
#pragma once

/* Integration test harness: a private dbus-daemon, the real infusiond
 * binary on it, and an sd-bus client. Paths come from the environment meson
 * sets: INFUSIOND (the binary), BUS_CONF (the bus configuration). */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-bus.h>

struct harness {
        char dir[256];                  /* private temp dir */
        char config_path[300];
        char db_path[300];
        char bus_address[512];
        pid_t bus_pid;
        pid_t daemon_pid;
        sd_bus *bus;
};

/* mkdtemp + dbus-daemon + client connection. Asserts on failure. */
void harness_setup(struct harness *h);
/* Copy a child's log ("infusiond.log", "dbus-daemon.log") to stderr. */
void harness_print_log(struct harness *h, const char *log_name);
/* Stop the daemon with SIGTERM (SIGKILL after a bound), kill the bus,
 * remove the temp dir. Fails the test if the daemon did not stop or its
 * log holds a sanitizer or valgrind report (scripts/sanitize). */
void harness_teardown(struct harness *h);

/* Write the config: clock "virtual" or "real"; extra lines are appended
 * to the [limits] section (may be NULL). */
void harness_write_config(struct harness *h, const char *clock, const char *extra_limits);
/* The same, with more lines appended after the [simulation] section's own
 * (more [simulation] keys, then other sections such as [alarms]). */
void harness_write_config_ex(struct harness *h, const char *clock, const char *extra_limits, const char *tail);

/* Start infusiond and wait (bounded) until it owns its bus name. The words
 * of INFUSIOND_WRAPPER, if set (valgrind ...), go before its argv. */
void harness_start_daemon(struct harness *h);
/* Send sig (SIGKILL, SIGTERM) and reap. Returns the wait status. */
int harness_kill_daemon(struct harness *h, int sig);

/* Channel 0 helpers. Each returns 0 or the D-Bus error, whose name is
 * copied into err_name (if not NULL). */
/* Program with (const char *key, double value) pairs ending in NULL. */
int call_program(struct harness *h, char *err_name, size_t n, ...) __attribute__((sentinel));
int call_simple(struct harness *h, const char *method, char *err_name, size_t n);
uint64_t call_advance(struct harness *h, uint64_t usec);

double get_double(struct harness *h, const char *path, const char *iface, const char *prop);
uint64_t get_u64(struct harness *h, const char *path, const char *iface, const char *prop);
int64_t get_i64(struct harness *h, const char *path, const char *iface, const char *prop);
/* Returns a malloc'ed string. */
char *get_string(struct harness *h, const char *path, const char *iface, const char *prop);

/* How many active alarms have this condition (NULL: any); the last one's
 * id (64 bytes) and priority (16 bytes) are copied out if not NULL. */
int harness_find_alarm(struct harness *h, const char *condition, char *id_out, char *prio_out);

/* One integer from the history database, opened read-only as hospital IT
 * would; -1 when the query returns no row. */
int64_t harness_query_i64(struct harness *h, const char *sql);

/* Call a Channel method taking a{sv} with sd-bus varargs (any key types):
 * n entries, then key, type, value... Copies the error name into err and
 * its message into err_msg (both char arrays); 0 or a negative errno. */
#define CALL_DICT(h, method, err, err_msg, n, ...)                                                      \
        ({                                                                                              \
                sd_bus_error _e = SD_BUS_ERROR_NULL;                                                    \
                int _r = sd_bus_call_method((h)->bus, "org.infusiond.pump1", CH_PATH, CH_IFACE,        \
                                            method, &_e, NULL, "a{sv}", n, __VA_ARGS__);                \
                snprintf(err, sizeof(err), "%s", _r < 0 && _e.name ? _e.name : "");                     \
                snprintf(err_msg, sizeof(err_msg), "%s", _r < 0 && _e.message ? _e.message : "");       \
                sd_bus_error_free(&_e);                                                                 \
                _r < 0 ? _r : 0;                                                                        \
        })

#define CH_PATH  "/org/infusiond/pump1/channel/0"
#define CH_IFACE "org.infusiond.pump1.Channel"
#define SIM_PATH "/org/infusiond/pump1/simulator"
#define SIM_IFACE "org.infusiond.pump1.Simulator"
