/* SPDX-License-Identifier: MIT */
#include "common/utf8.h"

#include <stdint.h>

/* The length of the valid sequence at s, or 0 if none starts there. */
static size_t sequence_length(const unsigned char *s) {
        unsigned char c = s[0];
        if (c < 0x80)
                return 1;
        size_t n;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2, cp = c & 0x1f, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3, cp = c & 0x0f, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4, cp = c & 0x07, min = 0x10000;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)      /* also stops at the NUL */
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

bool utf8_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        while (*p) {
                size_t n = sequence_length(p);
                if (n == 0)
                        return false;
                p += n;
        }
        return true;
}

void utf8_scrub(char *s) {
        unsigned char *p = (unsigned char *) s;
        while (*p) {
                size_t n = sequence_length(p);
                if (n == 0) {
                        *p++ = '?';
                        continue;
                }
                p += n;
        }
}

uint32_t utf8_next(const char **s) {
        const unsigned char *p = (const unsigned char *) *s;
        size_t n = sequence_length(p);

        if (n == 0) {
                *s += 1;
                return 0xfffd;
        }
        uint32_t cp = n == 1 ? p[0] : (uint32_t) (p[0] & (0x7f >> n));
        for (size_t i = 1; i < n; i++)
                cp = cp << 6 | (p[i] & 0x3f);
        *s += n;
        return cp;
}
