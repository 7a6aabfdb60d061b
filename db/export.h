/* SPDX-License-Identifier: MIT */
#pragma once

/* Exports of the infusion history in the formats hospitals ingest, built
 * from rows that db_infusions_list() read (libdb-export; needs json-c but
 * not SQLite). Pure: no clock, no file system, no logging; the caller says
 * who the pump is and when the export was made.
 *
 * What an infusion becomes:
 * - HL7 v2.6, IHE PCD-10 (Infusion Pump Event Communication) style ORU^R42
 *   messages: a Delivery Start at its start and, once it has ended, a
 *   Delivery Complete (status "completed") or a Delivery Stop ("stopped",
 *   "interrupted"). Each carries the channel, the drug, the rate, the dose
 *   rate (library infusions), the VTBI and the volume infused and left.
 * - FHIR R4 JSON: one MedicationAdministration per infusion; a Bundle of
 *   type "collection" holds those of a time range. */

#include <stdint.h>
#include <stdio.h>

#include "db/db.h"

/* Who the pump is, for the message header and the Device reference. */
struct export_source {
        const char *device_eui64;       /* 16 upper-case hex digits (IHE PCD's device id) */
        const char *software_version;   /* INFUSIOND_VERSION */
};

/* HL7 v2: write the messages for inf to out. Segments end with '\r' (HL7's
 * segment terminator) and each message with '\r' then '\n', so that a file
 * of them is also readable line by line. *message_seq numbers the messages
 * (MSH-10 is "<device_eui64>-<seq>"), and is advanced by each one written.
 * created_utc_us: MSH-7. Returns the number of messages (1 or 2), or
 * -EINVAL for a row that cannot be exported (no status, no mode), or
 * -EIO when out failed. */
int export_hl7_infusion(FILE *out, const struct export_source *src, const struct db_infusion *inf,
                        int64_t created_utc_us, uint64_t *message_seq);

/* FHIR R4: a Bundle (type "collection", timestamp created_utc_us) that
 * infusions are added to one by one; the strings of inf are copied. */
struct export_fhir;
int export_fhir_new(const struct export_source *src, int64_t created_utc_us, struct export_fhir **ret);
int export_fhir_add(struct export_fhir *x, const struct db_infusion *inf);
/* The Bundle as JSON text (pretty: indented), NUL-terminated and owned by
 * x until export_fhir_free(). */
const char *export_fhir_json(struct export_fhir *x);
struct export_fhir *export_fhir_free(struct export_fhir *x);
