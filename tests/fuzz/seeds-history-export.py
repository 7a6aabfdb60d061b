#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Writes the seed corpus of fuzz-history-export into the directory given: each seed
# encoded as fuzz-history-export.c decodes its input (see the comments there).
#   python3 tests/fuzz/seeds-history-export.py tests/fuzz/corpus/fuzz-history-export
import math, struct, sys
out = sys.argv[1]  # the corpus directory
MODES = ["continuous", "volume-time", "multistep", "loading", "intermittent", "ramp", "pca"]
STATUSES = ["completed", "stopped", "interrupted", "active", ""]
DRUGS = ["heparin", "Heparin", "morphine-pca", "insulin", "a|b^c~d\\e&f", "\u00e9", "\r\n"]
UNITS = ["units/h", "mcg/kg/min", "mg/h", "mL/h"]
AREAS = ["ICU", "Med-Surg", "Pediatrics"]
def u8(v): return bytes([v & 0xff])
def u32(v): return struct.pack("<I", v & 0xffffffff)
def u64(v): return struct.pack("<Q", v & 0xffffffffffffffff)
def word(words, w):
    if isinstance(w, str) and w in words: return u8(words.index(w))
    b = w.encode() if isinstance(w, str) else w
    return u8(0xc0) + u8(len(b)) + b
def text(words, w):
    if w is None: return u8(0)
    return u8(1) + word(words, w)
def amount(v, raw=False): return u8(7) + u64(v) if raw else u8(0) + u32(v // 10)
def time(sec_after_2024, raw=None):
    if raw is not None: return u8(7) + u64(raw)
    return u8(0) + u32(int(sec_after_2024 * 1e6 / 1009))
def double(v, raw=False):
    if raw: return u8(7) + struct.pack("<d", v)
    return u8(3) + u32(int(round(v * 1000)))   # scale[3] = 0.001
def infusion(mode="continuous", ch=0, rate=25_000_000, vtbi=100_000_000, kvo=1_000_000, vol=0, start=3600,
             area="ICU", drug=None, name=None, dose=float("nan"), unit=None, conc=None, sha=None, end=None,
             checkpoint=None, raw_start=None, raw_amounts=False):
    b = word(MODES, mode) + u8(ch) + amount(rate, raw_amounts) + amount(vtbi) + amount(kvo) + amount(vol)
    b += time(start, raw_start) + u32(1000) + text(AREAS, area) + text(DRUGS, drug) + text(DRUGS, name)
    b += double(dose, raw=not math.isfinite(dose)) + text(UNITS, unit) + text([], conc) + text([], sha)
    flags = (1 if checkpoint else 0) | (2 if end else 0)
    b += u8(flags)
    if checkpoint: b += amount(checkpoint[0]) + time(checkpoint[1])
    if end: b += word(STATUSES, end[0]) + amount(end[1]) + time(end[2])
    return b
def query(since=None, drug=None, span=None):
    b = (u8(1) + time(since)) if since is not None else u8(0)
    if drug is not None: b += u8(1) + word(DRUGS, drug)
    elif span is not None: b += u8(2) + u32(span)
    else: b += u8(0)
    return b
def seed(name, infusions, q=b"\0\0"):
    open(f"{out}/{name}", "wb").write(u8(len(infusions) - 1) + b"".join(infusions) + q)
SHA = "9f" * 32
seed("basic-active", [infusion()])
seed("heparin-completed", [infusion(drug="heparin", name="Heparin", dose=1000, unit="units/h", conc="25000 units / 500 mL",
                                    sha=SHA, end=("completed", 100_000_000, 4 * 3600 + 60))])
seed("stopped-and-interrupted", [infusion(mode="multistep", ch=1, end=("stopped", 5_500_000, 7200)),
                                 infusion(mode="pca", drug="morphine-pca", name="Morphine", dose=1.5, unit="mg/h",
                                          checkpoint=(2_000_000, 7300), end=("interrupted", 2_000_000, 9000)),
                                 infusion(mode="intermittent", area=None)], query())
seed("escaping", [infusion(drug="a|b^c~d\\e&f", name="\r\n", unit="|^~\\&", conc="x\x01y\x7fz",
                           area="care|area", end=("completed", 1, 4000))])
seed("unknown-mode", [infusion(mode="bolus|x^y", drug="insulin", name="\u00e9", dose=2.5, unit="units/h")])
seed("year-out-of-range", [infusion(raw_start=(1 << 62)), infusion(raw_start=-1), infusion(end=("stopped", 0, 0))])
seed("negative-amount", [infusion(rate=-5, raw_amounts=True), infusion(dose=float("inf"), drug="heparin", name="Heparin")])
seed("time-range", [infusion(start=100, end=("completed", 100_000_000, 200)), infusion(start=5000)],
     query(since=300, span=10_000_000))
seed("drug-filter-name", [infusion(drug="heparin", name="Heparin"), infusion(drug="insulin", name="\u00e9"),
                          infusion(drug=None, name="Heparin")], query(drug="Heparin"))
