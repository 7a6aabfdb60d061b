/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the drug library JSON import (db/library-json.c), the
 * file pharmacy sends through DrugLibrary.Import.
 *
 * Checked on every input:
 * - refused: -EINVAL with at least one problem; every problem is valid
 *   UTF-8 (it goes back over D-Bus, which refuses anything else) and
 *   starts with its JSON path;
 * - accepted: the library passes drug_library_validate() on its own, its
 *   canonical export is valid UTF-8 and reads back, and the export of what
 *   was read back is the same bytes (the SHA-256 that names a library
 *   version depends on that). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "db/library-json.h"
#include "safety/library.h"
#include "tests/fuzz/fuzz-util.h"

/* Far below LIBRARY_JSON_MAX_BYTES, far above any useful mutation. */
#define INPUT_MAX_BYTES (256 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* Large (errors are kept as fixed arrays): not on the stack. */
        static struct library_errors errs, errs_again;
        _cleanup_(drug_library_freep) struct drug_library *lib = NULL, *again = NULL;
        _cleanup_(freep) char *text = NULL, *text_again = NULL;
        int r;

        if (size > INPUT_MAX_BYTES)
                return -1;

        r = library_from_json((const char *) data, size, &lib, &errs);
        /* FUZZ_VERBOSE=1: say what became of each input (to sort seeds). */
        if (getenv("FUZZ_VERBOSE"))
                fprintf(stderr, "library: %s%s\n", r < 0 ? "refused: " : "accepted", r < 0 ? errs.text[0] : "");
        if (r < 0) {
                FUZZ_CHECK(r == -EINVAL, "refused with %d (%s), not -EINVAL", r, strerror(-r));
                FUZZ_CHECK(!lib, "refused but a library was returned");
                FUZZ_CHECK(library_errors_any(&errs), "refused without a problem named");
                for (size_t i = 0; i < errs.n; i++) {
                        FUZZ_CHECK(errs.text[i][0], "problem %zu is empty", i);
                        FUZZ_CHECK(fuzz_utf8_valid(errs.text[i]), "problem %zu is not valid UTF-8: %s", i,
                                   errs.text[i]);
                        FUZZ_CHECK(errs.path_len[i] <= strlen(errs.text[i]), "problem %zu: path longer than text", i);
                }
                return 0;
        }

        FUZZ_CHECK(r == 0 && lib, "accepted with %d", r);
        FUZZ_CHECK(!library_errors_any(&errs), "accepted with problems: %s", errs.text[0]);

        library_errors_reset(&errs_again);
        r = drug_library_validate(lib, &errs_again);
        FUZZ_CHECK(r == 0, "accepted library fails validation: %s", errs_again.n ? errs_again.text[0] : "?");

        r = library_to_json(lib, &text);
        FUZZ_CHECK(r == 0 && text, "accepted library cannot be exported: %d", r);
        FUZZ_CHECK(fuzz_utf8_valid(text), "export is not valid UTF-8");

        r = library_from_json(text, strlen(text), &again, &errs_again);
        FUZZ_CHECK(r == 0, "export does not read back: %s\n%s", errs_again.n ? errs_again.text[0] : "?", text);
        r = library_to_json(again, &text_again);
        FUZZ_CHECK(r == 0 && streq(text, text_again), "export is not canonical:\n--- first\n%s--- again\n%s", text,
                   text_again ?: "");
        return 0;
}
