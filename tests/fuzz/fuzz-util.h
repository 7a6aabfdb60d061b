/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the libFuzzer targets: a reader that turns the fuzzer's bytes
 * into typed values (running out of bytes gives zeros, never an error, so
 * every input means something), a UTF-8 check, a scratch directory and
 * the invariant check that aborts. Header-only: each target is one .c. */

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An invariant of the code under test. abort() is what libFuzzer (and a
 * person replaying the input) sees as a finding. */
#define FUZZ_CHECK(cond, ...)                                                   \
        do {                                                                    \
                if (!(cond)) {                                                  \
                        fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                           \
                        fputc('\n', stderr);                                    \
                        abort();                                                \
                }                                                               \
        } while (0)

struct fuzz_input {
        const uint8_t *data;
        size_t size;
};

static inline size_t fuzz_take(struct fuzz_input *in, void *buf, size_t n) {
        size_t got = n < in->size ? n : in->size;

        memset(buf, 0, n);
        memcpy(buf, in->data, got);
        in->data += got;
        in->size -= got;
        return got;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in) {
        uint8_t v;
        fuzz_take(in, &v, sizeof v);
        return v;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in) {
        uint32_t v;
        fuzz_take(in, &v, sizeof v);
        return v;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in) {
        uint64_t v;
        fuzz_take(in, &v, sizeof v);
        return v;
}

/* A double the way people and programs send them: mostly a decimal with a
 * few digits (what a clinician types), sometimes any bit pattern (NaN,
 * infinities, subnormals, 1e308). */
static inline double fuzz_double(struct fuzz_input *in) {
        uint8_t how = fuzz_u8(in);
        static const double scale[] = { 1, 0.1, 0.01, 0.001, 1e-6, 1e-9, 1000 };

        if (how % 8 == 7) {
                double d;
                uint64_t bits = fuzz_u64(in);
                memcpy(&d, &bits, sizeof d);
                return d;
        }
        return (double) (int32_t) fuzz_u32(in) * scale[how % 8];
}

/* A value chosen from words the code knows (often) or arbitrary bytes
 * (sometimes): up to size - 1 bytes, no NUL, NUL-terminated. */
static inline const char *fuzz_word(struct fuzz_input *in, const char *const *words, size_t n_words, char *buf,
                                    size_t size) {
        uint8_t how = fuzz_u8(in);

        if (n_words > 0 && how < 0xc0)
                return words[how % n_words];
        size_t len = fuzz_u8(in) % size;
        len = fuzz_take(in, buf, len);
        buf[len] = '\0';
        return buf;         /* stops at an embedded NUL, as C strings do */
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: shortest form,
 * no surrogates, at most U+10FFFF), 0 if there is none. Written here rather
 * than borrowed from the code under test, so a bug there is not shared. */
static inline size_t fuzz_utf8_len(const unsigned char *s, size_t avail) {
        uint32_t cp;
        size_t n;

        if (avail == 0)
                return 0;
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (avail < n)
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

static inline bool fuzz_utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t avail = strlen(s);

        while (avail > 0) {
                size_t n = fuzz_utf8_len(p, avail);
                if (n == 0)
                        return false;
                p += n;
                avail -= n;
        }
        return true;
}

/* Make s valid UTF-8 in place by replacing each byte that starts no
 * well-formed sequence with '?': what D-Bus (which refuses invalid UTF-8)
 * and a validated library would have let through. */
static inline void fuzz_utf8_sanitize(char *s) {
        unsigned char *p = (unsigned char *) s;
        size_t avail = strlen(s);

        while (avail > 0) {
                size_t n = fuzz_utf8_len(p, avail);
                if (n == 0) {
                        *p = '?';
                        n = 1;
                }
                p += n;
                avail -= n;
        }
}

/* A private scratch directory under $TMPDIR (the runner points that into
 * the build directory), made once per process. */
static inline const char *fuzz_scratch_dir(const char *target) {
        static char dir[512];

        if (dir[0])
                return dir;
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", target);
        if (!mkdtemp(dir)) {
                fprintf(stderr, "%s: cannot make a scratch directory %s: %s\n", target, dir, strerror(errno));
                abort();
        }
        return dir;
}
