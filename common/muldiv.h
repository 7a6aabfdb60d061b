/* SPDX-License-Identifier: MIT */
#pragma once

/* Exact integer a * b / c and a * b vs c * d where the product of two
 * int64 overflows 64 bits (volume x time, rate x window). GCC's __int128
 * would do, but 32-bit Arm (the BeagleBone, armhf) has none: these carry
 * the 128-bit product in two uint64 halves, the same code on every
 * board, and tests/unit/test-muldiv.c checks them against __int128 where
 * the host has it. */

#include <stdint.h>

/* floor(a * b / c) and ceil(a * b / c) for a, b >= 0 and c > 0, into
 * *ret. -ERANGE if the result exceeds INT64_MAX, -EINVAL for a negative
 * operand or c <= 0; *ret untouched then. */
int muldiv_floor(int64_t a, int64_t b, int64_t c, int64_t *ret);
int muldiv_ceil(int64_t a, int64_t b, int64_t c, int64_t *ret);

/* The sign of a * b - c * d (-1, 0, 1), exact for any int64. */
int mul_cmp(int64_t a, int64_t b, int64_t c, int64_t d);
