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
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include <systemd/sd-bus.h>

#define NAME     "org.infusiond.pump1"
#define CH_PATH  "/org/infusiond/pump1/channel/0"
#define CH_IFACE "org.infusiond.pump1.Channel"

static char work[] = "/tmp/bench-dbus-XXXXXX";
static volatile pid_t daemon_pid, bus_pid;

static int64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Async-signal-safe, so the signal handler can use it too: a bench
 * interrupted by ^C must not leave a daemon and a bus behind. */
static void kill_children(void) {
        if (daemon_pid > 0)
                kill(daemon_pid, SIGTERM);
        if (bus_pid > 0)
                kill(bus_pid, SIGTERM);
}

static void on_signal(int sig) {
        kill_children();
        signal(sig, SIG_DFL);
        raise(sig);
}

/* The work dir is flat: config, logs, the database and its -wal/-shm. */
static void remove_work(void) {
        DIR *d = opendir(work);
        struct dirent *e;
        char p[512];
        if (!d)
                return;
        while ((e = readdir(d)))
                if (e->d_name[0] != '.') {
                        snprintf(p, sizeof p, "%s/%s", work, e->d_name);
                        unlink(p);
                }
        closedir(d);
        rmdir(work);
}

static char *slurp_line(const char *path, char *buf, size_t n) {
        FILE *f = fopen(path, "r");
        if (!f)
                return NULL;
        char *r = fgets(buf, (int) n, f);
        fclose(f);
        if (r)
                buf[strcspn(buf, "\n")] = 0;
        return r;
}

/* dbus-daemon --fork: its first process exits once the bus is listening
 * and has printed address (fd 3) and pid (fd 4), so after waitpid both
 * files are complete. */
static int start_bus(char *address, size_t n) {
        char apath[300], ppath[300], pidbuf[32];
        snprintf(apath, sizeof apath, "%s/address", work);
        snprintf(ppath, sizeof ppath, "%s/pid", work);
        pid_t p = fork();
        if (p < 0)
                return -errno;
        if (p == 0) {
                int a = open(apath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int b = open(ppath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
                        _exit(127);
                execlp("dbus-daemon", "dbus-daemon",
                       "--config-file=" BENCH_SOURCE_ROOT "/tests/integration/bus.conf",
                       "--fork", "--print-address=3", "--print-pid=4", (char *) NULL);
                _exit(127);
        }
        int st;
        if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return -ECHILD;
        if (!slurp_line(ppath, pidbuf, sizeof pidbuf) || !slurp_line(apath, address, n))
                return -EIO;
        bus_pid = (pid_t) atoi(pidbuf);
        return bus_pid > 0 ? 0 : -EIO;
}

static int start_daemon(const char *infusiond, const char *address) {
        char conf[300], log[300];
        snprintf(conf, sizeof conf, "%s/infusiond.conf", work);
        snprintf(log, sizeof log, "%s/daemon.log", work);
        FILE *f = fopen(conf, "w");
        if (!f)
                return -errno;
        fprintf(f, "[pump]\nbackend = sim\n[mechanism]\nlead_pitch_mm = 1.0\n"
                   "steps_per_rev = 200\nmicrosteps = 16\nsyringe_inner_diameter_mm = 26.6\n"
                   "syringe_volume_ml = 60\n[database]\npath = %s/history.db\n"
                   "[simulation]\nclock = virtual\n", work);
        fclose(f);
        pid_t p = fork();
        if (p < 0)
                return -errno;
        if (p == 0) {
                int l = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (l >= 0)
                        dup2(l, 2);
                setenv("DBUS_SYSTEM_BUS_ADDRESS", address, 1);
                execl(infusiond, infusiond, "--config", conf, (char *) NULL);
                _exit(127);
        }
        daemon_pid = p;
        return 0;
}

/* The daemon takes its name only once ready, so owning it is the signal. */
static int wait_for_name(sd_bus *bus) {
        for (int i = 0; i < 2000; i++) {        /* 20 s */
                sd_bus_message *r = NULL;
                int has = 0, st;
                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner", NULL, &r,
                                       "s", NAME) >= 0)
                        sd_bus_message_read(r, "b", &has);
                sd_bus_message_unref(r);
                if (has)
                        return 0;
                if (waitpid(daemon_pid, &st, WNOHANG) == daemon_pid) {
                        daemon_pid = 0;
                        return -ECHILD;
                }
                usleep(10000);
        }
        return -ETIMEDOUT;
}

static int call(sd_bus *bus, const char *path, const char *iface, const char *member,
                sd_bus_message *m) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *r = NULL;
        int k = m ? sd_bus_call(bus, m, 0, &e, &r)
                  : sd_bus_call_method(bus, NAME, path, iface, member, &e, &r, NULL);
        if (k < 0)
                fprintf(stderr, "%s: %s\n", member, e.message ? e.message : strerror(-k));
        sd_bus_error_free(&e);
        sd_bus_message_unref(r);
        return k;
}

static int op_ping(sd_bus *bus) {
        return call(bus, CH_PATH, "org.freedesktop.DBus.Peer", "Ping", NULL);
}

static int op_getall(sd_bus *bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *r = NULL;
        int k = sd_bus_call_method(bus, NAME, CH_PATH, "org.freedesktop.DBus.Properties",
                                   "GetAll", &e, &r, "s", CH_IFACE);
        if (k < 0)
                fprintf(stderr, "GetAll: %s\n", e.message ? e.message : strerror(-k));
        sd_bus_error_free(&e);
        sd_bus_message_unref(r);
        return k;
}

/* Program's a{sv} is built per call, inside the timed span, as a real
 * client would. */
static int op_cycle(sd_bus *bus) {
        sd_bus_message *m = NULL;
        int k = sd_bus_message_new_method_call(bus, &m, NAME, CH_PATH, CH_IFACE, "Program");
        if (k >= 0)
                k = sd_bus_message_append(m, "a{sv}", 2, "RateMlPerHour", "d", 10.0,
                                          "VtbiMl", "d", 5.0);
        if (k >= 0)
                k = call(bus, CH_PATH, CH_IFACE, "Program", m);
        sd_bus_message_unref(m);
        if (k >= 0)
                k = call(bus, CH_PATH, CH_IFACE, "Start", NULL);
        if (k >= 0)
                k = call(bus, CH_PATH, CH_IFACE, "Stop", NULL);
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
        int64_t t0 = now_ns();
        for (int i = 0; i < s->n; i++) {
                int64_t a = now_ns();
                if (op(bus) < 0) {
                        free(lat);
                        return -1;
                }
                lat[i] = now_ns() - a;
        }
        double wall_s = (double) (now_ns() - t0) / 1e9;
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
        char address[512];
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
        if (!mkdtemp(work)) {
                perror("mkdtemp");
                return 1;
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);

        if ((k = start_bus(address, sizeof address)) < 0) {
                fprintf(stderr, "dbus-daemon did not start: %s\n", strerror(-k));
                goto out;
        }
        if ((k = start_daemon(infusiond, address)) < 0) {
                fprintf(stderr, "cannot start %s: %s\n", infusiond, strerror(-k));
                goto out;
        }
        if ((k = sd_bus_new(&bus)) < 0 || (k = sd_bus_set_address(bus, address)) < 0 ||
            (k = sd_bus_set_bus_client(bus, 1)) < 0 || (k = sd_bus_start(bus)) < 0) {
                fprintf(stderr, "cannot connect to the bus: %s\n", strerror(-k));
                goto out;
        }
        if ((k = wait_for_name(bus)) < 0) {
                fprintf(stderr, "%s did not take %s: %s (log: %s/daemon.log)\n",
                        infusiond, NAME, k == -ECHILD ? "it exited" : strerror(-k), work);
                goto out;
        }

        struct stats s[] = {
                { "ping",   count,  1, 0, 0, 0, 0 },
                { "getall", count,  1, 0, 0, 0, 0 },
                { "cycle",  cycles, 3, 0, 0, 0, 0 },
        };
        int (*ops[])(sd_bus *) = { op_ping, op_getall, op_cycle };
        int64_t t0 = now_ns();
        for (int i = 0; i < 3; i++)
                if (measure(bus, ops[i], &s[i]) < 0) {
                        fprintf(stderr, "%s: a call failed\n", s[i].name);
                        goto out;
                }
        double total_s = (double) (now_ns() - t0) / 1e9;

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
        kill_children();
        if (daemon_pid > 0)
                waitpid(daemon_pid, NULL, 0);
        /* Keep the daemon's log for a look when it went wrong. */
        if (rc == 0)
                remove_work();
        else
                fprintf(stderr, "work dir kept: %s\n", work);
        return rc;
}
