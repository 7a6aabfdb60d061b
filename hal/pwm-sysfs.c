/* SPDX-License-Identifier: MIT */
#include "hal/pwm-sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/macros.h"

#define PWM_ROOT "/sys/class/pwm"

struct pwm_sysfs {
        char *chip_dir;                 /* /sys/class/pwm/pwmchip0 */
        char *dir;                      /* .../pwm0 */
        unsigned channel;
        int64_t period_ns;
        int64_t duty_ns;                /* -1: unknown, a write failed */
};

/* sysfs takes a value in one write(); the trailing newline is what echo
 * sends, and the kernel's parsers accept it. O_TRUNC means nothing to
 * sysfs but keeps a plain file (a test's fake /sys) holding one value. */
static int write_attr(const char *dir, const char *name, const char *value) {
        _cleanup_(freep) char *path = NULL;
        size_t len = strlen(value);
        ssize_t n;
        int fd, r = 0;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = write(fd, value, len);
        if (n < 0)
                r = -errno;
        else if ((size_t) n != len)
                r = -EIO;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

static int write_int64(const char *dir, const char *name, int64_t value) {
        char buf[32];

        snprintf(buf, sizeof(buf), "%" PRIi64 "\n", value);
        return write_attr(dir, name, buf);
}

static int read_int64(const char *dir, const char *name, int64_t *ret) {
        _cleanup_(freep) char *path = NULL;
        char buf[32], *end;
        ssize_t n;
        long long v;
        int fd;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                n = -errno;
        close(fd);
        if (n < 0)
                return (int) n;

        buf[n] = '\0';
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno != 0 || end == buf || (*end != '\0' && *end != '\n'))
                return -EINVAL;
        *ret = v;
        return 0;
}

static bool chip_name_valid(const char *chip) {
        return chip && chip[0] && !strchr(chip, '/') && !streq(chip, ".") && !streq(chip, "..");
}

static struct pwm_sysfs *pwm_free(struct pwm_sysfs *p) {
        if (!p)
                return NULL;
        free(p->chip_dir);
        free(p->dir);
        free(p);
        return NULL;
}

static void pwm_freep(struct pwm_sysfs **p) {
        pwm_free(*p);
}

/* Ordered for the kernel, which checks every write against the state so
 * far: it refuses anything but a period on a fresh channel (period 0),
 * a duty above the period, and a polarity change while enabled. */
static int pwm_setup(struct pwm_sysfs *p, int64_t period_ns, bool inverted) {
        int64_t current_period_ns = 0;
        int r;

        r = read_int64(p->dir, "period", &current_period_ns);
        if (r < 0)
                return r;

        if (current_period_ns == 0) {
                r = write_int64(p->dir, "period", period_ns);
                if (r < 0)
                        return r;
        }
        /* Duty 0 first: a channel left running stops driving at once. */
        r = write_int64(p->dir, "duty_cycle", 0);
        if (r < 0)
                return r;
        r = write_attr(p->dir, "enable", "0\n");
        if (r < 0)
                return r;
        r = write_attr(p->dir, "polarity", inverted ? "inversed\n" : "normal\n");
        if (r < 0)
                return r;
        if (current_period_ns != 0) {
                r = write_int64(p->dir, "period", period_ns);
                if (r < 0)
                        return r;
        }

        p->period_ns = period_ns;
        p->duty_ns = 0;
        return 0;
}

int pwm_sysfs_open(const char *chip, unsigned channel, int64_t period_ns, bool inverted, struct pwm_sysfs **ret) {
        _cleanup_(pwm_freep) struct pwm_sysfs *p = NULL;
        bool exported = false;
        int r;

        if (!chip_name_valid(chip) || period_ns <= 0 || !ret)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->channel = channel;
        if (asprintf(&p->chip_dir, PWM_ROOT "/%s", chip) < 0) {
                p->chip_dir = NULL;
                return -ENOMEM;
        }
        if (asprintf(&p->dir, "%s/pwm%u", p->chip_dir, channel) < 0) {
                p->dir = NULL;
                return -ENOMEM;
        }

        if (access(p->chip_dir, F_OK) < 0)
                return -errno;

        /* Exporting an exported channel is -EBUSY: it may be ours from
         * before a restart, and is taken over as it is. */
        if (access(p->dir, F_OK) < 0) {
                if (errno != ENOENT)
                        return -errno;
                r = write_int64(p->chip_dir, "export", channel);
                if (r < 0)
                        return r;
                exported = true;
        }

        r = pwm_setup(p, period_ns, inverted);
        if (r < 0) {
                if (exported)
                        (void) write_int64(p->chip_dir, "unexport", channel);
                return r;
        }

        *ret = TAKE_PTR(p);
        return 0;
}

struct pwm_sysfs *pwm_sysfs_close(struct pwm_sysfs *p) {
        if (!p)
                return NULL;
        /* Whatever the cached state says: this is the last word. */
        (void) write_int64(p->dir, "duty_cycle", 0);
        (void) write_attr(p->dir, "enable", "0\n");
        (void) write_int64(p->chip_dir, "unexport", p->channel);
        return pwm_free(p);
}

int pwm_sysfs_set_duty_ns(struct pwm_sysfs *p, int64_t duty_ns) {
        int r;

        if (duty_ns < 0 || duty_ns > p->period_ns)
                return -ERANGE;
        if (duty_ns == p->duty_ns)
                return 0;

        r = write_int64(p->dir, "duty_cycle", duty_ns);
        /* After a failed write the kernel's duty is anyone's guess: the
         * next set writes whatever it is. */
        p->duty_ns = r < 0 ? -1 : duty_ns;
        return r;
}

int pwm_sysfs_set_period_ns(struct pwm_sysfs *p, int64_t period_ns) {
        int64_t duty_ns;
        bool duty_first;
        int r;

        if (period_ns <= 0)
                return -EINVAL;
        if (period_ns == p->period_ns)
                return 0;

        /* The duty keeps its share of the period, so the output's mean
         * stays put; rounded down, it never exceeds the new period. An
         * unknown duty becomes 0. */
        if (p->duty_ns < 0)
                duty_ns = 0;
        else
                duty_ns = MIN((int64_t) ((double) p->duty_ns * (double) period_ns / (double) p->period_ns),
                              period_ns);

        /* Shrinking: the duty first, or the new period would be shorter
         * than the old duty. Growing: the period first, or the new duty
         * would be longer than the old period. */
        duty_first = period_ns < p->period_ns || p->duty_ns < 0;

        if (duty_first && duty_ns != p->duty_ns) {
                r = write_int64(p->dir, "duty_cycle", duty_ns);
                if (r < 0) {
                        p->duty_ns = -1;
                        return r;
                }
                p->duty_ns = duty_ns;
        }

        r = write_int64(p->dir, "period", period_ns);
        if (r < 0)
                return r;
        p->period_ns = period_ns;

        if (!duty_first && duty_ns != p->duty_ns) {
                r = write_int64(p->dir, "duty_cycle", duty_ns);
                p->duty_ns = r < 0 ? -1 : duty_ns;
                if (r < 0)
                        return r;
        }
        return 0;
}

int pwm_sysfs_enable(struct pwm_sysfs *p, bool on) {
        /* Always written, never skipped as "already so": a disable must
         * reach the kernel even if our idea of its state is wrong. */
        return write_attr(p->dir, "enable", on ? "1\n" : "0\n");
}

int64_t pwm_sysfs_period_ns(const struct pwm_sysfs *p) {
        return p->period_ns;
}
