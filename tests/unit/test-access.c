/* SPDX-License-Identifier: MIT */
/* The role table and how a caller's groups become roles (daemon/access.c).
 * The same table through a real bus, as other uids, is
 * tests/integration/test-access.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "daemon/access.h"

#define CH  "org.infusiond.pump1.Channel"
#define LIB "org.infusiond.pump1.DrugLibrary"

static void each_control_needs_its_role(void **state) {
        (void) state;
        assert_int_equal(access_required_roles(CH, "Start"), ACCESS_CLINICIAN);
        assert_int_equal(access_required_roles(CH, "Program"), ACCESS_CLINICIAN);
        /* PCA by proxy: only the patient, not even a clinician. */
        assert_int_equal(access_required_roles(CH, "PcaDemand"), ACCESS_PATIENT);
        assert_int_equal(access_required_roles(LIB, "Import"), ACCESS_PHARMACY);
        assert_int_equal(access_required_roles(LIB, "ListDrugs"), ACCESS_VIEWER);
        /* A whole interface by one rule. */
        assert_int_equal(access_required_roles("org.infusiond.pump1.History", "Export"),
                         ACCESS_HISTORY | ACCESS_CLINICIAN);
        assert_int_equal(access_required_roles("org.infusiond.pump1.Simulator", "AdvanceTime"), ACCESS_CLINICIAN);
}

static void a_method_without_a_rule_is_refused_to_everyone(void **state) {
        (void) state;
        assert_int_equal(access_required_roles(CH, "SelfDestruct"), 0);
        assert_int_equal(access_required_roles("org.infusiond.pump1.Nothing", "Start"), 0);
        /* A prefix of a real name is not that name. */
        assert_int_equal(access_required_roles(CH, "Star"), 0);
        assert_int_equal(access_required_roles("org.infusiond.pump1.Chan", "Start"), 0);
        assert_int_equal(access_required_roles("org.example.Channel", "Start"), 0);
        assert_int_equal(access_required_roles(NULL, "Start"), 0);
        assert_int_equal(access_required_roles(CH, NULL), 0);
}

static const struct access_groups groups = {
        .known = { false, true, true, true, false },    /* no history group on this rig */
        .gid = { 0, 1001, 1002, 1003, 1004 },
        .self_uid = 990,
};

static void groups_become_roles(void **state) {
        (void) state;
        gid_t clinician[] = { 100, 1001 };
        assert_int_equal(access_roles_from_gids(&groups, 5000, clinician, 2), ACCESS_VIEWER | ACCESS_CLINICIAN);
        gid_t two[] = { 1003, 1002 };
        assert_int_equal(access_roles_from_gids(&groups, 5000, two, 2),
                         ACCESS_VIEWER | ACCESS_PATIENT | ACCESS_PHARMACY);
        /* A group that does not exist grants nothing, even with its gid. */
        gid_t history[] = { 1004 };
        assert_int_equal(access_roles_from_gids(&groups, 5000, history, 1), ACCESS_VIEWER);
        assert_int_equal(access_roles_from_gids(&groups, 5000, NULL, 0), ACCESS_VIEWER);
        /* root and the daemon's own account have every role, groups or not. */
        assert_int_equal(access_roles_from_gids(&groups, 0, NULL, 0), ACCESS_ALL_ROLES);
        assert_int_equal(access_roles_from_gids(&groups, 990, NULL, 0), ACCESS_ALL_ROLES);
        assert_int_equal(access_roles_of_uid(&groups, 990), ACCESS_ALL_ROLES);
}

static void an_unknown_caller_is_only_a_viewer(void **state) {
        (void) state;
        assert_int_equal(access_roles_of_uid(&groups, -1), ACCESS_VIEWER);
        assert_int_equal(access_roles_of_uid(&groups, (int64_t) UINT32_MAX), ACCESS_VIEWER);
        assert_int_equal(access_roles_of_uid(&groups, 0), ACCESS_ALL_ROLES);
}

static void roles_read_as_words(void **state) {
        (void) state;
        char buf[80];
        assert_string_equal(access_roles_to_string(ACCESS_VIEWER, buf, sizeof(buf)), "viewer");
        assert_string_equal(access_roles_to_string(ACCESS_VIEWER | ACCESS_CLINICIAN | ACCESS_HISTORY, buf, sizeof(buf)),
                            "clinician, history");
        assert_string_equal(access_role_group(ACCESS_PATIENT), "infusiond-patient");
        assert_null(access_role_group(ACCESS_VIEWER));
        assert_null(access_role_to_string(ACCESS_PATIENT | ACCESS_PHARMACY));
        char tiny[12];
        assert_string_equal(access_roles_to_string(ACCESS_CLINICIAN | ACCESS_PHARMACY, tiny, sizeof(tiny)), "clinician");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(each_control_needs_its_role),
                cmocka_unit_test(a_method_without_a_rule_is_refused_to_everyone),
                cmocka_unit_test(groups_become_roles),
                cmocka_unit_test(an_unknown_caller_is_only_a_viewer),
                cmocka_unit_test(roles_read_as_words),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
