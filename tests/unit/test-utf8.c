/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "common/utf8.h"

static void valid_text_is_left_alone(void **state) {
        (void) state;
        char s[] = "heparin \xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\x89";     /* é € 💉 */
        assert_true(utf8_valid(s));
        utf8_scrub(s);
        assert_string_equal(s, "heparin \xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\x89");
}

static void a_character_cut_by_a_precision_is_replaced(void **state) {
        (void) state;
        char s[32];
        /* "%.2s" of "aé" keeps a and the first byte of é. */
        snprintf(s, sizeof(s), "%.2s|", "a\xc3\xa9");
        assert_false(utf8_valid(s));
        utf8_scrub(s);
        assert_string_equal(s, "a?|");
        assert_true(utf8_valid(s));
}

static void invalid_forms_are_replaced_byte_by_byte(void **state) {
        (void) state;
        char overlong[] = "\xc0\xaf", surrogate[] = "\xed\xa0\x80", too_big[] = "\xf4\x90\x80\x80",
             stray[] = "x\x80y", cut4[] = "\xf0\x9f\x92";
        utf8_scrub(overlong);
        assert_string_equal(overlong, "??");
        utf8_scrub(surrogate);
        assert_string_equal(surrogate, "???");
        utf8_scrub(too_big);
        assert_string_equal(too_big, "????");
        utf8_scrub(stray);
        assert_string_equal(stray, "x?y");
        utf8_scrub(cut4);
        assert_string_equal(cut4, "???");
}

static void code_points_are_read_one_by_one(void **state) {
        (void) state;
        const char *s = "a\xc3\xa9\xe2\x80\x8b\xf0\x9f\x92\x89\xc3";     /* a é ZWSP 💉, a cut é */
        assert_int_equal(utf8_next(&s), 0x61);
        assert_int_equal(utf8_next(&s), 0xe9);
        assert_int_equal(utf8_next(&s), 0x200b);
        assert_int_equal(utf8_next(&s), 0x1f489);
        /* The cut sequence is one replacement character, then the end. */
        assert_int_equal(utf8_next(&s), 0xfffd);
        assert_int_equal(*s, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(valid_text_is_left_alone),
                cmocka_unit_test(a_character_cut_by_a_precision_is_replaced),
                cmocka_unit_test(invalid_forms_are_replaced_byte_by_byte),
                cmocka_unit_test(code_points_are_read_one_by_one),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
