/* SPDX-License-Identifier: MIT */
#pragma once

/* Who may call what: the roles of DESIGN.md as one table, checked by the
 * daemon for every call to its own interfaces (daemon/bus-access.c), after
 * the D-Bus policy (systemd/org.infusiond.pump1.conf) has checked the same
 * thing at the bus. Two independent checks, so that a policy file that is
 * missing, overridden by a local drop-in or edited wrongly does not open
 * the pump's controls to every local user.
 *
 * A role is a group (created by systemd/infusiond.sysusers); a caller has
 * the roles of the groups its account is a member of, in the user
 * database. Everyone is a viewer. root and the daemon's own account have
 * every role: either could replace the daemon or write its database
 * anyway, and the demo and the tests drive the daemon as the user that
 * started it (as sd-bus's own privilege check does). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum access_role {
        ACCESS_VIEWER    = 1u << 0,     /* everyone: read state, the library */
        ACCESS_CLINICIAN = 1u << 1,     /* program and control, alarms, sim */
        ACCESS_PATIENT   = 1u << 2,     /* the PCA demand, nothing else */
        ACCESS_PHARMACY  = 1u << 3,     /* import the drug library */
        ACCESS_HISTORY   = 1u << 4,     /* hospital IT: read the history */
};
#define ACCESS_ROLE_COUNT 5
#define ACCESS_ALL_ROLES ((1u << ACCESS_ROLE_COUNT) - 1)

/* "viewer", "clinician", ... for one role bit; NULL for anything else. */
const char *access_role_to_string(unsigned role);
/* The group of a role: "infusiond-clinician", ...; NULL for the viewer
 * (no group: everyone). */
const char *access_role_group(unsigned role);
/* "clinician, pharmacy" (the viewer is left out unless alone) into buf. */
const char *access_roles_to_string(unsigned roles, char *buf, size_t n);

/* The roles that may call interface.member, one of them being enough;
 * 0 when no rule names that method: it is then refused to everyone
 * (fail closed: a method added without a rule cannot be called). Only
 * org.infusiond.pump1.* interfaces have rules. */
unsigned access_required_roles(const char *interface, const char *member);

/* The gids of the role groups, looked up once at start-up. A group that
 * does not exist (a rig installed without sysusers) grants its role to
 * nobody but root. */
struct access_groups {
        bool known[ACCESS_ROLE_COUNT];
        gid_t gid[ACCESS_ROLE_COUNT];
        uid_t self_uid;         /* the daemon's own: every role, like root */
};
/* Look the groups up in the user database; returns how many were found.
 * self_uid is set to the daemon's effective uid. */
int access_groups_load(struct access_groups *g);

/* The roles of uid, whose groups (primary and supplementary) are gids[n]. */
unsigned access_roles_from_gids(const struct access_groups *g, uid_t uid, const gid_t *gids, size_t n);
/* The roles of uid from the user database (its primary group and the
 * groups that list it). uid < 0 (unknown caller): viewer only. */
unsigned access_roles_of_uid(const struct access_groups *g, int64_t uid);
