/* SPDX-License-Identifier: MIT */
#include "bench/procs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What the signal handler kills: copies of the pids, kept as they change. */
static volatile sig_atomic_t signal_daemon_pid, signal_bus_pid;

static void note_pids(const struct bench_procs *b) {
        signal_daemon_pid = b->daemon_pid;
        signal_bus_pid = b->bus_pid;
}

/* Async-signal-safe, so the handler can use it. */
static void kill_children(void) {
        if (signal_daemon_pid > 0)
                kill(signal_daemon_pid, SIGTERM);
        if (signal_bus_pid > 0)
                kill(signal_bus_pid, SIGTERM);
}

static void on_signal(int sig) {
        kill_children();
        signal(sig, SIG_DFL);
        raise(sig);
}

int bench_procs_init(struct bench_procs *b, const char *name) {
        *b = (struct bench_procs) {};
        snprintf(b->work, sizeof(b->work), "/tmp/bench-%s-XXXXXX", name);
        if (!mkdtemp(b->work))
                return -errno;
        note_pids(b);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        return 0;
}

const char *bench_path(const struct bench_procs *b, const char *leaf, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", b->work, leaf);
        return buf;
}

static char *slurp_line(const char *path, char *buf, size_t n) {
        FILE *f = fopen(path, "re");
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
int bench_start_bus(struct bench_procs *b) {
        char apath[128], ppath[128], pidbuf[32];
        bench_path(b, "bus-address", apath, sizeof(apath));
        bench_path(b, "bus-pid", ppath, sizeof(ppath));
        pid_t p = fork();
        if (p < 0)
                return -errno;
        if (p == 0) {
                int a = open(apath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                int c = open(ppath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (a < 0 || c < 0 || dup2(a, 3) < 0 || dup2(c, 4) < 0)
                        _exit(127);
                execlp("dbus-daemon", "dbus-daemon",
                       "--config-file=" BENCH_SOURCE_ROOT "/tests/integration/bus.conf",
                       "--fork", "--print-address=3", "--print-pid=4", (char *) NULL);
                _exit(127);
        }
        int st;
        if (waitpid(p, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                return -ECHILD;
        if (!slurp_line(ppath, pidbuf, sizeof(pidbuf)) || !slurp_line(apath, b->address, sizeof(b->address)))
                return -EIO;
        b->bus_pid = (pid_t) atoi(pidbuf);
        note_pids(b);
        return b->bus_pid > 0 ? 0 : -EIO;
}

int bench_connect(const struct bench_procs *b, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;
        if ((r = sd_bus_new(&bus)) < 0 || (r = sd_bus_set_address(bus, b->address)) < 0 ||
            (r = sd_bus_set_bus_client(bus, 1)) < 0 || (r = sd_bus_start(bus)) < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}

static int wait_for_name(struct bench_procs *b, sd_bus *bus) {
        for (int i = 0; i < 2000; i++) {        /* 20 s */
                sd_bus_message *reply = NULL;
                int has = 0, st;
                if (sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", BENCH_NAME) >= 0)
                        (void) sd_bus_message_read(reply, "b", &has);
                sd_bus_message_unref(reply);
                if (has)
                        return 0;
                if (waitpid(b->daemon_pid, &st, WNOHANG) == b->daemon_pid) {
                        b->daemon_pid = 0;
                        note_pids(b);
                        return -ECHILD;
                }
                usleep(10000);
        }
        return -ETIMEDOUT;
}

int bench_start_daemon(struct bench_procs *b, sd_bus *bus, const char *infusiond, const char *conf_leaf,
                       const char *conf_text, const char *log_leaf) {
        char conf[128], log[128];
        bench_path(b, conf_leaf, conf, sizeof(conf));
        bench_path(b, log_leaf, log, sizeof(log));
        FILE *f = fopen(conf, "we");
        if (!f)
                return -errno;
        fputs(conf_text, f);
        if (fclose(f) != 0)
                return -errno;
        pid_t p = fork();
        if (p < 0)
                return -errno;
        if (p == 0) {
                int l = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (l >= 0)
                        dup2(l, 2);
                setenv("DBUS_SYSTEM_BUS_ADDRESS", b->address, 1);
                unsetenv("NOTIFY_SOCKET");
                execl(infusiond, infusiond, "--config", conf, (char *) NULL);
                _exit(127);
        }
        b->daemon_pid = p;
        note_pids(b);
        return wait_for_name(b, bus);
}

int bench_stop_daemon(struct bench_procs *b) {
        int st;
        if (b->daemon_pid <= 0)
                return -ESRCH;
        kill(b->daemon_pid, SIGTERM);
        pid_t r = waitpid(b->daemon_pid, &st, 0);
        b->daemon_pid = 0;
        note_pids(b);
        return r < 0 ? -errno : st;
}

void bench_remove_flat_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        char p[4096];
        if (d) {
                while ((e = readdir(d)))
                        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                                (void) unlink(p);
                        }
                closedir(d);
        }
        (void) rmdir(dir);
}

void bench_procs_finish(struct bench_procs *b, bool keep) {
        note_pids(b);
        kill_children();
        if (b->daemon_pid > 0)
                waitpid(b->daemon_pid, NULL, 0);
        b->daemon_pid = b->bus_pid = 0;
        note_pids(b);
        if (keep)
                fprintf(stderr, "work dir kept: %s\n", b->work);
        else
                bench_remove_flat_dir(b->work);
}

int bench_call(sd_bus *bus, const char *iface, const char *member, sd_bus_message **reply) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *r = NULL;
        int k = sd_bus_call_method(bus, BENCH_NAME, BENCH_CH_PATH, iface, member, &e, &r, NULL);
        if (k < 0)
                fprintf(stderr, "%s: %s\n", member, e.message ? e.message : strerror(-k));
        sd_bus_error_free(&e);
        if (reply)
                *reply = r;
        else
                sd_bus_message_unref(r);
        return k;
}

int bench_getall(sd_bus *bus) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *r = NULL;
        int k = sd_bus_call_method(bus, BENCH_NAME, BENCH_CH_PATH, "org.freedesktop.DBus.Properties", "GetAll", &e,
                                   &r, "s", BENCH_CH_IFACE);
        if (k < 0)
                fprintf(stderr, "GetAll: %s\n", e.message ? e.message : strerror(-k));
        sd_bus_error_free(&e);
        sd_bus_message_unref(r);
        return k;
}

/* The a{sv} is built per call, as a real client would. */
int bench_program(sd_bus *bus, double rate_ml_per_h, double vtbi_ml) {
        sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int k = sd_bus_message_new_method_call(bus, &m, BENCH_NAME, BENCH_CH_PATH, BENCH_CH_IFACE, "Program");
        if (k >= 0)
                k = sd_bus_message_append(m, "a{sv}", 3, "RateMlPerHour", "d", rate_ml_per_h, "VtbiMl", "d",
                                          vtbi_ml, "KvoRateMlPerHour", "d", 0.0);
        if (k >= 0) {
                k = sd_bus_call(bus, m, 0, &e, NULL);
                if (k < 0)
                        fprintf(stderr, "Program: %s\n", e.message ? e.message : strerror(-k));
        }
        sd_bus_error_free(&e);
        sd_bus_message_unref(m);
        return k;
}

int64_t bench_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}
