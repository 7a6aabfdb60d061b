/* SPDX-License-Identifier: MIT */
#pragma once

/* What the D-Bus benchmarks share: a work dir, a private dbus-daemon
 * configured like tests/integration/bus.conf, the daemon under test on it
 * (each run with its own config and log in the work dir) and a client
 * connection. ^C or SIGTERM kills the children, so an interrupted bench
 * leaves no bus or daemon behind. One set per process. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <systemd/sd-bus.h>

#define BENCH_NAME     "org.infusiond.pump1"
#define BENCH_CH_PATH  "/org/infusiond/pump1/channel/0"
#define BENCH_CH_IFACE "org.infusiond.pump1.Channel"

struct bench_procs {
        char work[64];                  /* /tmp/bench-NAME-XXXXXX */
        char address[512];              /* the private bus */
        pid_t bus_pid;
        pid_t daemon_pid;
};

/* mkdtemp /tmp/bench-<name>-XXXXXX, install the signal handlers.
 * Negative errno. */
int bench_procs_init(struct bench_procs *b, const char *name);
/* A path in the work dir: work/leaf (truncated to size). */
const char *bench_path(const struct bench_procs *b, const char *leaf, char *buf, size_t size);
/* Start the private dbus-daemon. */
int bench_start_bus(struct bench_procs *b);
/* A new client connection to the private bus. */
int bench_connect(const struct bench_procs *b, sd_bus **ret);
/* Write conf_text to work/<conf_leaf>, start infusiond (any build of it)
 * with it, stderr to work/<log_leaf>, and wait (20 s at most) until it owns
 * its name, which it takes only once ready. -ECHILD: it exited. */
int bench_start_daemon(struct bench_procs *b, sd_bus *bus, const char *infusiond, const char *conf_leaf,
                       const char *conf_text, const char *log_leaf);
/* SIGTERM the daemon and reap it: a clean stop, so it writes what it
 * writes at exit. Returns its wait status, or negative errno. */
int bench_stop_daemon(struct bench_procs *b);
/* Kill what still runs; remove the work dir unless keep (it is named on
 * stderr then). */
void bench_procs_finish(struct bench_procs *b, bool keep);

/* Remove a dir that holds only files (configs, logs, databases). */
void bench_remove_flat_dir(const char *dir);

/* A call to the channel; prints the error on stderr. reply may be NULL. */
int bench_call(sd_bus *bus, const char *iface, const char *member, sd_bus_message **reply);
int bench_getall(sd_bus *bus);
/* Program a continuous infusion: rate and VTBI in mL (the API's units).
 * KVO after the VTBI is off: the config's KVO rate would be refused below
 * it (at 0.1 mL/h, say), and no bench runs to the VTBI. */
int bench_program(sd_bus *bus, double rate_ml_per_h, double vtbi_ml);
/* Monotonic clock, ns. */
int64_t bench_now_ns(void);
