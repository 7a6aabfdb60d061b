#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus of fuzz-program into the directory given: each seed
# encoded as fuzz-program.c decodes its input (see the comments there).
#   python3 tests/fuzz/seeds-program.py tests/fuzz/corpus/fuzz-program
import struct, sys
out = sys.argv[1]  # the corpus directory
KEYS = ("MODE RATE VTBI KVO DURATION LOADING_VOLUME LOADING_RATE DOSE_VOLUME INTERVAL DOSES STEPS CARE_AREA DRUG "
        "CONCENTRATION DOSE_RATE DOSE_UNIT WEIGHT HEIGHT CONFIRM REASON RAMP_UP RAMP_DOWN OCCLUSION_LIMIT PCA_DOSE_ML "
        "PCA_DOSE LOCKOUT MAX_DOSES LIMIT_ML LIMIT_DOSE LIMIT_WINDOW BASAL_ML BASAL_DOSE LOADING_DOSE_ML LOADING_DOSE "
        "PCA_BOLUS_RATE LIMIT_KVO NEW_PATIENT").split()
MODES = ["continuous", "volume-time", "multistep", "loading", "intermittent", "ramp", "pca"]
AREAS = ["ICU", "Med-Surg", "Oncology", "Pediatrics", "Anesthesia", "icu"]
DRUGS = ["heparin", "heparin-peds", "insulin", "dopamine", "norepinephrine", "morphine-pca", "fentanyl", "tpn",
         "vasopressin", "oxytocin", "magnesium-sulfate", "potassium-chloride-peds", "propofol", "nope"]
UNITS = ["units/h", "units/kg/h", "mcg/kg/min", "mcg/min", "mg/h", "mg/kg/h", "mL/h", "mEq/h", "g/h",
         "milliunits/min", "mg/m2/h", "units/min"]
AMOUNT_UNITS = ["g", "mg", "mcg", "ng", "units", "milliunits", "mEq", "mmol", "mL"]
VOCAB = {"MODE": MODES, "CARE_AREA": AREAS, "DRUG": DRUGS, "DOSE_UNIT": UNITS, "REASON": []}
U = "DURATION INTERVAL DOSES RAMP_UP RAMP_DOWN LOCKOUT MAX_DOSES LIMIT_WINDOW".split()
def u8(v): return bytes([v & 0xff])
def dbl(v):
    if isinstance(v, float) and (v != v or abs(v) == float("inf") or abs(v * 1000) >= 2**31):
        return u8(7) + struct.pack("<d", v)
    return u8(3) + struct.pack("<i", int(round(v * 1000)))
def enc(key, v):
    b = u8(KEYS.index(key))
    if key in VOCAB:
        w = VOCAB[key]
        if v in w: return b + u8(w.index(v))
        raw = v.encode(); return b + u8(0xc0) + u8(len(raw)) + raw
    if key in U:
        if v < 256 * 60 and v % 60 < 256: return b + u8(0) + u8(v // 60) + u8(v % 60)
        return b + u8(3) + struct.pack("<I", v)
    if key in ("CONFIRM", "NEW_PATIENT"): return b + u8(1 if v else 0)
    if key == "CONCENTRATION":
        if isinstance(v, tuple): return b + u8(1) + dbl(v[0]) + u8(AMOUNT_UNITS.index(v[1])) + dbl(v[2])
        return b + u8(0) + u8(0) + u8(v)
    if key == "STEPS": return b + u8(len(v)) + b"".join(dbl(r) + dbl(vol) for r, vol in v)
    return b + dbl(v)
def seed(name, pairs, odd=None):
    data = b"".join(enc(k, v) for k, v in pairs)
    open(f"{out}/{name}", "wb").write(data)
seed("continuous-basic", [("MODE", "continuous"), ("CARE_AREA", "Med-Surg"), ("RATE", 100), ("VTBI", 50)])
seed("continuous-no-care-area", [("RATE", 100), ("VTBI", 50), ("KVO", 1)])
seed("heparin-dose", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("CONCENTRATION", 0), ("DOSE_RATE", 1000), ("VTBI", 50)])
seed("heparin-soft-confirmed", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("DOSE_RATE", 2500), ("VTBI", 50),
                                ("CONFIRM", True), ("REASON", "per protocol \u00e9")])
seed("heparin-soft-unconfirmed", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("DOSE_RATE", 2500), ("VTBI", 50)])
seed("heparin-hard", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("RATE", 150), ("VTBI", 50), ("CONFIRM", True)])
seed("dopamine-weight", [("CARE_AREA", "ICU"), ("DRUG", "dopamine"), ("CONCENTRATION", 0), ("DOSE_RATE", 5), ("WEIGHT", 70), ("VTBI", 50)])
seed("dose-unit-mismatch", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("DOSE_RATE", 20), ("DOSE_UNIT", "units/kg/h"),
                            ("VTBI", 50)])
seed("volume-time", [("MODE", "volume-time"), ("CARE_AREA", "Med-Surg"), ("VTBI", 50), ("DURATION", 3600)])
seed("multistep", [("MODE", "multistep"), ("CARE_AREA", "Med-Surg"), ("STEPS", [(50, 10), (100, 20), (25, 5)])])
seed("loading", [("MODE", "loading"), ("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("LOADING_VOLUME", 5),
                 ("LOADING_RATE", 300), ("RATE", 20), ("VTBI", 50)])
seed("intermittent", [("MODE", "intermittent"), ("CARE_AREA", "Med-Surg"), ("DOSE_VOLUME", 10), ("DURATION", 600),
                      ("INTERVAL", 3600), ("DOSES", 4)])
seed("ramp", [("MODE", "ramp"), ("CARE_AREA", "ICU"), ("DRUG", "tpn"), ("VTBI", 50), ("DURATION", 4 * 3600),
              ("RAMP_UP", 3600), ("RAMP_DOWN", 3600)])
seed("pca-ml", [("MODE", "pca"), ("CARE_AREA", "Med-Surg"), ("DRUG", "morphine-pca"), ("VTBI", 30), ("PCA_DOSE_ML", 1),
                ("LOCKOUT", 600), ("MAX_DOSES", 4), ("LIMIT_ML", 10), ("LIMIT_WINDOW", 4 * 3600), ("NEW_PATIENT", True)])
seed("pca-amounts", [("MODE", "pca"), ("CARE_AREA", "ICU"), ("DRUG", "morphine-pca"), ("VTBI", 30), ("PCA_DOSE", 1),
                     ("LOCKOUT", 480), ("MAX_DOSES", 6), ("LIMIT_DOSE", 20), ("LIMIT_WINDOW", 4 * 3600),
                     ("BASAL_DOSE", 1), ("LOADING_DOSE", 2), ("PCA_BOLUS_RATE", 100), ("LIMIT_KVO", 0.5)])
seed("above-device-max", [("CARE_AREA", "Med-Surg"), ("RATE", 5000), ("VTBI", 50), ("KVO", 100)])
seed("concentration-by-value", [("CARE_AREA", "ICU"), ("DRUG", "heparin"), ("CONCENTRATION", (25000, "units", 500)),
                                ("DOSE_RATE", 1000), ("VTBI", 50), ("OCCLUSION_LIMIT", 300)])
seed("not-finite", [("CARE_AREA", "ICU"), ("RATE", float("nan")), ("VTBI", float("inf"))])
seed("peds-bsa", [("CARE_AREA", "Pediatrics"), ("DRUG", "heparin-peds"), ("CONCENTRATION", 1), ("DOSE_RATE", 20), ("WEIGHT", 20),
                  ("HEIGHT", 110), ("VTBI", 50)])
# Regression: each step within the largest VTBI, their sum beyond it (was accepted).
seed("regression-multistep-total", [("MODE", "multistep"), ("CARE_AREA", "Med-Surg"), ("STEPS", [(100, 40), (100, 40)])])
