/* SPDX-License-Identifier: MIT */
/* D-Bus round-trip benchmark: what a client pays per call to the real
 * infusiond over a real bus. Starts a private dbus-daemon and the daemon
 * (sim backend, virtual clock, its own database in a temp dir, as
 * tests/integration/test-ctl.sh does), then times, on one client
 * connection:
 *   - Peer.Ping: answered by sd-bus itself, so it is the floor (two hops
 *     through the bus daemon, no pump code);
 *   - Properties.GetAll on the channel: the common read;
 *   - Program/Start/Stop: the write path (each one goes to the history
 *     database), timed per cycle.
 * Figures are the machine's own. Exits non-zero if any call failed. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bench/procs.h"

static int op_ping(sd_bus *bus) {
        return bench_call(bus, "org.freedesktop.DBus.Peer", "Ping", NULL);
}

static int op_getall(sd_bus *bus) {
        return bench_getall(bus);
}

/* Program's a{sv} is built per call, inside the timed span, as a real
 * client would. */
static int op_cycle(sd_bus *bus) {
        int k = bench_program(bus, 10.0, 5.0);
        if (k >= 0)
                k = bench_call(bus, BENCH_CH_IFACE, "Start", NULL);
        if (k >= 0)
                k = bench_call(bus, BENCH_CH_IFACE, "Stop", NULL);
        return k;
}

struct stats { const char *name; int n, calls_per_op; double p50, p99, max, per_s; };

static int cmp_i64(const void *a, const void *b) {
        int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
        return (x > y) - (x < y);
}

/* Times each op on its own; throughput is ops over the loop's wall time.
 * Percentiles are nearest-rank. Returns -1 at the first failed call. */
static int measure(sd_bus *bus, int (*op)(sd_bus *), struct stats *s) {
        int64_t *lat = calloc((size_t) s->n, sizeof *lat);
        if (!lat)
                return -1;
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < s->n; i++) {
                int64_t a = bench_now_ns();
                if (op(bus) < 0) {
                        free(lat);
                        return -1;
                }
                lat[i] = bench_now_ns() - a;
        }
        double wall_s = (double) (bench_now_ns() - t0) / 1e9;
        qsort(lat, (size_t) s->n, sizeof *lat, cmp_i64);
        s->p50 = (double) lat[(s->n * 50 + 99) / 100 - 1] / 1e3;
        s->p99 = (double) lat[(s->n * 99 + 99) / 100 - 1] / 1e3;
        s->max = (double) lat[s->n - 1] / 1e3;
        s->per_s = s->n * s->calls_per_op / wall_s;
        free(lat);
        return 0;
}

int main(int argc, char **argv) {
        const char *infusiond = "build/daemon/infusiond";
        int count = 5000, cycles = 300, rc = 1, k;
        struct bench_procs procs;
        sd_bus *bus = NULL;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--infusiond") && i + 1 < argc)
                        infusiond = argv[++i];
                else if (!strcmp(argv[i], "--count") && i + 1 < argc) {
                        count = atoi(argv[++i]);
                        /* Same 5000:300 proportion, but enough cycles for a p99. */
                        cycles = count * 300 / 5000 < 20 ? 20 : count * 300 / 5000;
                } else if (argv[i][0] != '-')
                        infusiond = argv[i];
                else {
                        fprintf(stderr, "usage: %s [--infusiond PATH | PATH] [--count N]\n", argv[0]);
                        return 2;
                }
        }
        if (count < 1) {
                fprintf(stderr, "--count must be at least 1\n");
                return 2;
        }
        if ((k = bench_procs_init(&procs, "dbus")) < 0) {
                fprintf(stderr, "mkdtemp: %s\n", strerror(-k));
                return 1;
        }

        char conf[512];
        snprintf(conf, sizeof conf,
                 "[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 1.0\n"
                 "steps_per_rev = 200\nmicrosteps = 16\nsyringe_inner_diameter_mm = 26.6\n"
                 "syringe_volume_ml = 60\n[database]\npath = %s/history.db\n"
                 "[simulation]\nclock = virtual\n", procs.work);
        if ((k = bench_start_bus(&procs)) < 0) {
                fprintf(stderr, "dbus-daemon did not start: %s\n", strerror(-k));
                goto out;
        }
        if ((k = bench_connect(&procs, &bus)) < 0) {
                fprintf(stderr, "cannot connect to the bus: %s\n", strerror(-k));
                goto out;
        }
        if ((k = bench_start_daemon(&procs, bus, infusiond, "infusiond.conf", conf, "daemon.log")) < 0) {
                fprintf(stderr, "%s did not take %s: %s (log: %s/daemon.log)\n", infusiond, BENCH_NAME,
                        k == -ECHILD ? "it exited" : strerror(-k), procs.work);
                goto out;
        }
        struct stats s[] = {
                { "ping",   count,  1, 0, 0, 0, 0 },
                { "getall", count,  1, 0, 0, 0, 0 },
                { "cycle",  cycles, 3, 0, 0, 0, 0 },
        };
        int (*ops[])(sd_bus *) = { op_ping, op_getall, op_cycle };
        int64_t t0 = bench_now_ns();
        for (int i = 0; i < 3; i++)
                if (measure(bus, ops[i], &s[i]) < 0) {
                        fprintf(stderr, "%s: a call failed\n", s[i].name);
                        goto out;
                }
        double total_s = (double) (bench_now_ns() - t0) / 1e9;

        printf("%-8s %6s %10s %10s %10s %10s %9s\n", "op", "n", "p50_us", "p99_us",
               "max_us", "calls/s", "p50/ping");
        for (int i = 0; i < 3; i++)
                printf("%-8s %6d %10.1f %10.1f %10.1f %10.0f %9.2f\n", s[i].name, s[i].n,
                       s[i].p50, s[i].p99, s[i].max, s[i].per_s, s[i].p50 / s[0].p50);
        printf("(cycle = Program+Start+Stop, 3 calls; its latencies are per cycle)\n"
               "measured in %.2f s\n", total_s);

        mkdir(BENCH_SOURCE_ROOT "/bench/results", 0755);
        FILE *f = fopen(BENCH_SOURCE_ROOT "/bench/results/dbus.csv", "w");
        if (!f) {
                perror("bench/results/dbus.csv");
                goto out;
        }
        fprintf(f, "metric,value,unit\n");
        for (int i = 0; i < 3; i++) {
                fprintf(f, "%s_count,%d,%s\n", s[i].name, s[i].n, i == 2 ? "cycles" : "calls");
                fprintf(f, "%s_p50,%.1f,us\n%s_p99,%.1f,us\n%s_max,%.1f,us\n",
                        s[i].name, s[i].p50, s[i].name, s[i].p99, s[i].name, s[i].max);
                fprintf(f, "%s_throughput,%.0f,calls/s\n", s[i].name, s[i].per_s);
                fprintf(f, "%s_p50_over_ping_p50,%.2f,ratio\n", s[i].name, s[i].p50 / s[0].p50);
        }
        fprintf(f, "measure_wall,%.2f,s\n", total_s);
        rc = fclose(f) == 0 ? 0 : 1;
out:
        sd_bus_flush_close_unref(bus);
        /* Keep the daemon's log for a look when it went wrong. */
        bench_procs_finish(&procs, rc != 0);
        return rc;
}
