/* SPDX-License-Identifier: MIT */
/* Bad input on every method the daemon publishes (issue 9): wrong
 * signatures, NaN and infinities, negative, zero and huge numbers, 1 MB
 * strings and strings with control characters, unknown and duplicate keys
 * and type confusion in a{sv}. Each call must get a named error; the
 * pump's observable state (every property of every object) and the
 * history (audit rows aside) must be as they were; the daemon must still
 * answer and be alive. The same table runs with no library, idle with a
 * library, programmed, and running, so a bad Titrate or Bolus meets a
 * running infusion.
 *
 * A case is one line: { "Interface.Method", "arguments", "expected error",
 * "part of the message" }. The argument notation is described above
 * append_args(); the expected error above want_matches(). */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define PUMP_ERR "org.infusiond.pump1.Error."
#define streq(a, b) (strcmp((a), (b)) == 0)
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---- the cases -------------------------------------------------------- */

struct bad_call {
        const char *method;     /* "Channel.Program", or "Channel:Properties.Set" for a standard interface */
        const char *args;
        const char *want;
        const char *msg;        /* NULL: any message, but there must be one */
};

/* Every method of every interface, with its input signature and one
 * well-typed argument list; the signature cases are made from these. */
static const struct {
        const char *method;
        const char *sig;
        const char *ok_args;
        bool extra_ignored;     /* sd-bus's own GetAll reads its argument and ignores the rest */
} methods[] = {
        { "Channel.Program", "a{sv}", "{ RateMlPerHour=d:10 VtbiMl=d:5 }" },
        { "Channel.Start", "", "" },
        { "Channel.Titrate", "a{sv}", "{ RateMlPerHour=d:10 }" },
        { "Channel.Bolus", "a{sv}", "{ BolusMl=d:1 BolusRateMlPerHour=d:100 }" },
        { "Channel.Pause", "", "" },
        { "Channel.Resume", "", "" },
        { "Channel.Stop", "", "" },
        { "Channel.AcknowledgeAlarm", "s", "s:x" },
        { "Channel.SilenceAlarms", "", "" },
        { "Channel.PcaDemand", "", "" },
        { "Channel.GetPcaDemands", "u", "u:1" },
        { "DrugLibrary.Import", "s", "s:{}" },
        { "DrugLibrary.Export", "", "" },
        { "DrugLibrary.ListDrugs", "s", "s:" },
        { "DrugLibrary.GetDrug", "s", "s:heparin" },
        { "History.Infusions", "xxa{sv}", "x:0 x:0 { }" },
        { "History.Events", "xxa{sv}", "x:0 x:0 { }" },
        { "History.Alarms", "xxa{sv}", "x:0 x:0 { }" },
        { "History.Export", "sxxa{sv}", "s:hl7 x:0 x:0 { }" },
        { "Simulator.AdvanceTime", "t", "t:0" },
        { "Simulator.SetOcclusion", "b", "b:0" },
        { "Simulator.SetUpstreamOcclusion", "b", "b:0" },
        { "Simulator.InjectAir", "d", "d:10" },
        { "Simulator.PrimeLine", "", "" },
        { "Simulator.SetDoorOpen", "b", "b:0" },
        { "Simulator.SetBattery", "bd", "b:1 d:100" },
        { "Simulator.FailSensor", "ss", "s:pressure-downstream s:ok" },
        { "Simulator.SetMotorGain", "d", "d:1" },
        { "Simulator.StallMotor", "b", "b:0" },
        { "Simulator.PressPcaButton", "", "" },
        { "Simulator.HangControlLoop", "t", "t:0" },
        { "Manager:ObjectManager.GetManagedObjects", "", "" },
        { "Channel:Properties.GetAll", "s", "s:org.infusiond.pump1.Channel", true },
};

/* A program that is valid in every state with the sample library, but
 * for the key a case adds (Med-Surg allows basic infusions). */
#define BASIC "CareArea=s:Med-Surg RateMlPerHour=d:10 VtbiMl=d:5"
#define HEPARIN "Drug=s:heparin CareArea=s:ICU VtbiMl=d:50"
#define PCA_BASE "Mode=s:pca CareArea=s:Med-Surg VtbiMl=d:50 LockoutSec=u:600 MaxDosesPerHour=u:4 LimitWindowSec=u:14400"

/* Hand-written cases; the sweeps over every numeric argument are made
 * by add_sweeps(). */
static const struct bad_call cases[] = {
        /* Program: keys */
        { "Channel.Program", "{ }", "IA", "VtbiMl is required" },
        { "Channel.Program", "{ " BASIC " Foo=d:1 }", "IA", "Unknown setting \"Foo\"" },
        { "Channel.Program", "{ @1M=d:1 }", "IA", "Unknown setting" },
        { "Channel.Program", "{ =d:1 }", "IA", "Unknown setting \"\"" },
        { "Channel.Program", "{ @ctrl=d:1 }", "IA", "Unknown setting" },
        { "Channel.Program", "{ @cut=d:1 }", "IA", "Unknown setting" },
        { "Channel.Program", "{ @cut2=d:1 }", "IA", "Unknown setting" },
        { "Channel.Program", "{ rateMlPerHour=d:10 VtbiMl=d:5 }", "IA", "Unknown setting" },
        { "Channel.Program", "{ " BASIC " RateMlPerHour=d:20 }", "IA", "RateMlPerHour given twice" },
        { "Channel.Program", "{ " BASIC " VtbiMl=d:5 }", "IA", "VtbiMl given twice" },
        { "Channel.Program", "{ Mode=s:continuous Mode=s:continuous " BASIC " }", "IA", "Mode given twice" },
        /* Program: type confusion */
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=s:10 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=i:10 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=u:10 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=x:max VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=t:max VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=b:1 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=v:d:10 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=v:v:d:10 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=ad:10,20 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=ad: VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=(dd):10/5 VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour={ RateMlPerHour=d:10 } VtbiMl=d:5 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ " BASIC " KvoRateMlPerHour=s:nan }", "IA", "KvoRateMlPerHour must be of D-Bus type d" },
        { "Channel.Program", "{ Mode=d:1 " BASIC " }", "IA", "Mode must be of D-Bus type s" },
        { "Channel.Program", "{ Mode=as:continuous " BASIC " }", "IA", "Mode must be of D-Bus type s" },
        { "Channel.Program", "{ Mode=s: " BASIC " }", "IA", "Mode \"\" is not known" },
        { "Channel.Program", "{ Mode=s:@1M " BASIC " }", "IA", "is not known" },
        { "Channel.Program", "{ Mode=s:@ctrl " BASIC " }", "IA", "is not known" },
        { "Channel.Program", "{ Mode=s:@cut " BASIC " }", "IA", "is not known" },
        { "Channel.Program", "{ Mode=s:@cut2 " BASIC " }", "IA", "is not known" },
        { "Channel.Program", "{ Mode=s:CONTINUOUS " BASIC " }", "IA", "is not known" },
        { "Channel.Program", "{ Mode=s:volume-time CareArea=s:Med-Surg VtbiMl=d:5 DurationSec=d:60 }", "IA", "DurationSec must be of D-Bus type u" },
        { "Channel.Program", "{ Mode=s:volume-time CareArea=s:Med-Surg VtbiMl=d:5 DurationSec=i:-1 }", "IA", "DurationSec must be of D-Bus type u" },
        { "Channel.Program", "{ Mode=s:volume-time CareArea=s:Med-Surg VtbiMl=d:5 DurationSec=t:max }", "IA", "DurationSec must be of D-Bus type u" },
        { "Channel.Program", "{ Mode=s:volume-time CareArea=s:Med-Surg VtbiMl=d:5 DurationSec=v:u:60 }", "IA", "DurationSec must be of D-Bus type u" },
        { "Channel.Program", "{ " BASIC " ConfirmSoftLimits=d:1 }", "IA", "ConfirmSoftLimits must be of D-Bus type b" },
        { "Channel.Program", "{ " BASIC " ConfirmSoftLimits=s:true }", "IA", "ConfirmSoftLimits must be of D-Bus type b" },
        { "Channel.Program", "{ " PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10 NewPatient=s:yes }", "IA", "NewPatient must be of D-Bus type b" },
        { "Channel.Program", "{ " BASIC " CareArea=u:1 }", "IA", "CareArea" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:1000 Drug=ay:1,2 }", "IA", "Drug" },
        /* Program: numbers in range for a double, not for a patient or the mechanism */
        { "Channel.Program", "{ " BASIC " PatientWeightKg=d:501 }", "IA", "PatientWeightKg must be a finite number from 0.1 to 500 kg" },
        { "Channel.Program", "{ " BASIC " PatientWeightKg=d:1e308 }", "IA", "PatientWeightKg must be a finite number from 0.1 to 500 kg" },
        { "Channel.Program", "{ " BASIC " PatientWeightKg=d:0.01 }", "IA", "PatientWeightKg must be a finite number from 0.1 to 500 kg" },
        { "Channel.Program", "{ " BASIC " PatientHeightCm=d:19 }", "IA", "PatientHeightCm must be a finite number from 20 to 300 cm" },
        { "Channel.Program", "{ " BASIC " PatientHeightCm=d:max }", "IA", "PatientHeightCm must be a finite number from 20 to 300 cm" },
        { "Channel.Program", "{ " BASIC " KvoRateMlPerHour=d:-1e-300 }", "IA", "KvoRateMlPerHour -1e-300 is below the pump's resolution" },
        { "Channel.Program", "{ " BASIC " KvoRateMlPerHour=d:-4.9e-324 }", "IA", "below the pump's resolution" },
        { "Channel.Program", "{ CareArea=s:Med-Surg RateMlPerHour=d:10 VtbiMl=d:4e-7 }", "IA", "VtbiMl 4e-07 is below the pump's resolution" },
        /* Program: steps */
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=ad:10,5 }", "IA", "Steps must be of D-Bus type a(dd)" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(ddd):10/5/1 }", "IA", "Steps must be of D-Bus type a(dd)" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=(dd):10/5 }", "IA", "Steps must be of D-Bus type a(dd)" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):nan/5 }", "IA", "Steps rate must be a finite number" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):10/inf }", "IA", "Steps volume must be a finite number" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):10/-inf }", "IA", "Steps volume must be a finite number" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):1e308/5 }", "IA", "Steps rate 1e+308 is out of range" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):10/-1e308 }", "IA", "Steps volume -1e+308 is out of range" },
        { "Channel.Program", "{ Mode=s:multistep CareArea=s:Med-Surg Steps=a(dd):10/5,@33x10/1 }", "IA", "Steps has more than 32 entries" },
        /* Program: a concentration by value */
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:1000 Concentration=(dss):25000/units/500 }", "IA", "Concentration must be of D-Bus type u (an index) or (dsd)" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:1000 Concentration=d:1 }", "IA", "Concentration must be of D-Bus type" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:1000 Concentration=(dsd):25000/@ctrl/500 }", "IA", "Concentration amount unit" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:1000 Concentration=(dsd):25000/@1M/500 }", "IA", "Concentration amount unit" },
        /* Program: strings */
        { "Channel.Program", "{ " BASIC " OverrideReason=s:@1M }", "IA", "OverrideReason is 1048576 bytes long" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:2500 ConfirmSoftLimits=b:1 OverrideReason=s:@1M }", "IA", "OverrideReason is 1048576 bytes long" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:2500 ConfirmSoftLimits=b:1 OverrideReason=s:@ctrl }", "IA", "OverrideReason has a control character (0x1b)" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:2500 ConfirmSoftLimits=b:1 OverrideReason=s:@nl }", "IA", "OverrideReason has a control character (0x0a)" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:2500 ConfirmSoftLimits=b:1 OverrideReason=s:@blank }", "IA", "OverrideReason is blank" },
        { "Channel.Titrate", "{ DoseRate=d:15 ConfirmSoftLimits=b:1 OverrideReason=s:@blank }", "IA", "OverrideReason is blank" },
        { "Channel.Program", "{ " HEPARIN " DoseRate=d:2500 ConfirmSoftLimits=b:1 OverrideReason=s:@invisible }", "IA", "OverrideReason is blank" },
        { "Channel.Program", "{ Drug=s:@1M CareArea=s:ICU VtbiMl=d:50 DoseRate=d:1000 }", "UD;running=IS", NULL },
        { "Channel.Program", "{ Drug=s:@ctrl CareArea=s:ICU VtbiMl=d:50 DoseRate=d:1000 }", "UD;running=IS", NULL },
        { "Channel.Program", "{ Drug=s:heparin CareArea=s:@1M VtbiMl=d:50 DoseRate=d:1000 }", "UD;running=IS", NULL },
        { "Channel.Program", "{ Drug=s:heparin CareArea=s:@ctrl VtbiMl=d:50 DoseRate=d:1000 }", "UD;running=IS", NULL },

        /* Titrate */
        { "Channel.Titrate", "{ }", "IA", "Titrate needs exactly one of RateMlPerHour and DoseRate" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 DoseRate=d:1000 }", "IA", "exactly one" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 Foo=d:1 }", "IA", "Unknown setting \"Foo\" for Titrate" },
        { "Channel.Titrate", "{ @1M=d:10 }", "IA", "Unknown setting" },
        { "Channel.Titrate", "{ @ctrl=d:10 }", "IA", "Unknown setting" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 RateMlPerHour=d:20 }", "IA", "RateMlPerHour given twice" },
        { "Channel.Titrate", "{ RateMlPerHour=s:10 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour=u:10 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour=x:max }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour=v:d:10 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour=ad:10 }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour={ } }", "IA", "RateMlPerHour must be of D-Bus type d" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 ConfirmSoftLimits=d:1 }", "IA", "ConfirmSoftLimits must be of D-Bus type b" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 OverrideReason=b:1 }", "IA", "OverrideReason must be of D-Bus type s" },
        { "Channel.Titrate", "{ RateMlPerHour=d:1e-300 }", "IA", "RateMlPerHour 1e-300 is below the pump's resolution" },
        { "Channel.Titrate", "{ RateMlPerHour=d:10 OverrideReason=s:@1M }", "IA", "OverrideReason goes with ConfirmSoftLimits=true" },
        /* a soft-limit override of the running midazolam in ICU (soft max 10 mg/h,
         * hard 20) with a reason no one can read */
        { "Channel.Titrate", "{ DoseRate=d:15 ConfirmSoftLimits=b:1 OverrideReason=s:@1M }", "IA", "OverrideReason is 1048576 bytes long" },
        { "Channel.Titrate", "{ DoseRate=d:15 ConfirmSoftLimits=b:1 OverrideReason=s:@ctrl }", "IA", "OverrideReason has a control character (0x1b)" },
        { "Channel.Titrate", "{ DoseRate=d:15 ConfirmSoftLimits=b:1 OverrideReason=s:@c1 }", "IA", "OverrideReason has a control character (0x9b)" },
        /* an empty reason is judged with the limits, which come before the state */
        { "Channel.Titrate", "{ DoseRate=d:15 ConfirmSoftLimits=b:1 OverrideReason=s: }", "IA;programmed=SL;running=SL", NULL },

        /* Bolus */
        { "Channel.Bolus", "{ }", "IA", "Bolus needs exactly one of BolusMl and BolusDose" },
        { "Channel.Bolus", "{ BolusMl=d:1 }", "IA", "BolusRateMlPerHour is required" },
        { "Channel.Bolus", "{ BolusMl=d:1 BolusDose=d:1000 BolusRateMlPerHour=d:100 }", "IA", "exactly one" },
        { "Channel.Bolus", "{ BolusMl=d:1 BolusRateMlPerHour=d:100 Foo=b:1 }", "IA", "Unknown setting \"Foo\" for Bolus" },
        { "Channel.Bolus", "{ BolusMl=d:1 BolusRateMlPerHour=d:100 BolusMl=d:1 }", "IA", "BolusMl given twice" },
        { "Channel.Bolus", "{ BolusMl=s:1 BolusRateMlPerHour=d:100 }", "IA", "BolusMl must be of D-Bus type d" },
        { "Channel.Bolus", "{ BolusMl=d:1 BolusRateMlPerHour=i:100 }", "IA", "BolusRateMlPerHour must be of D-Bus type d" },
        { "Channel.Bolus", "{ BolusMl=v:d:1 BolusRateMlPerHour=d:100 }", "IA", "BolusMl must be of D-Bus type d" },
        { "Channel.Bolus", "{ BolusMl=ad:1,1 BolusRateMlPerHour=d:100 }", "IA", "BolusMl must be of D-Bus type d" },
        { "Channel.Bolus", "{ BolusMl=d:4e-7 BolusRateMlPerHour=d:100 }", "IA", "BolusMl 4e-07 is below the pump's resolution" },
        { "Channel.Bolus", "{ BolusMl=d:1 BolusRateMlPerHour=d:100 OverrideReason=s:@1M }", "IA", "OverrideReason goes with ConfirmSoftLimits=true" },
        /* midazolam's bolus soft max in ICU is 2 mg, its hard max 5 mg */
        { "Channel.Bolus", "{ BolusDose=d:3 BolusRateMlPerHour=d:100 ConfirmSoftLimits=b:1 OverrideReason=s:@1M }", "IA", "OverrideReason is 1048576 bytes long" },
        { "Channel.Bolus", "{ BolusDose=d:3 BolusRateMlPerHour=d:100 ConfirmSoftLimits=b:1 OverrideReason=s:@ctrl }", "IA", "OverrideReason has a control character (0x1b)" },
        { "Channel.Bolus", "{ BolusDose=d:3 BolusRateMlPerHour=d:100 ConfirmSoftLimits=b:1 OverrideReason=s:@blank }", "IA", "OverrideReason is blank" },
        { "Channel.Bolus", "{ BolusDose=d:3 BolusRateMlPerHour=d:100 ConfirmSoftLimits=b:1 OverrideReason=s:@c1 }", "IA", "OverrideReason has a control character (0x9b)" },

        /* alarms and PCA */
        { "Channel.AcknowledgeAlarm", "s:", "UA", NULL },
        { "Channel.AcknowledgeAlarm", "s:@1M", "UA", NULL },
        { "Channel.AcknowledgeAlarm", "s:@ctrl", "UA", NULL },
        { "Channel.GetPcaDemands", "u:1001", "IA", "count 1001 is too many" },
        { "Channel.GetPcaDemands", "u:max", "IA", "count 4294967295 is too many" },

        /* the drug library */
        { "DrugLibrary.Import", "s:", "IA", NULL },
        { "DrugLibrary.Import", "s:@1M", "IA", NULL },
        { "DrugLibrary.Import", "s:@ctrl", "IA", NULL },
        { "DrugLibrary.Import", "s:null", "IA", NULL },
        { "DrugLibrary.Import", "s:[]", "IA", NULL },
        { "DrugLibrary.Import", "s:@lib-nan", "IA", "hard_max: must be a finite number" },
        { "DrugLibrary.Import", "s:@lib-inf", "IA", "hard_max: must be a finite number" },
        { "DrugLibrary.Import", "s:@lib-neg", "IA", "hard_max: must be > 0" },
        { "DrugLibrary.Import", "s:@lib-string", "IA", "hard_max: must be a number, not a string" },
        { "DrugLibrary.Import", "s:@lib-unknown-key", "IA", "hard_maxx: unknown key" },
        { "DrugLibrary.Import", "s:@lib-dup-key", "IA", "hard_max: is given twice" },
        { "DrugLibrary.Import", "s:@lib-ctrl-name", "IA", "drugs[0].name: must be valid UTF-8 without control characters" },
        { "DrugLibrary.Import", "s:@lib-1M-name", "IA", "drugs[0].name: is 1048576 bytes long" },
        { "DrugLibrary.ListDrugs", "s:@1M", "UD", NULL },
        { "DrugLibrary.ListDrugs", "s:@ctrl", "UD", NULL },
        { "DrugLibrary.ListDrugs", "s:@cut", "UD", NULL },
        { "DrugLibrary.ListDrugs", "s:@cut2", "UD", NULL },
        { "DrugLibrary.ListDrugs", "s:icu", "UD", NULL },
        { "DrugLibrary.GetDrug", "s:", "UD", NULL },
        { "DrugLibrary.GetDrug", "s:@1M", "UD", NULL },
        { "DrugLibrary.GetDrug", "s:@ctrl", "UD", NULL },
        { "DrugLibrary.GetDrug", "s:@cut", "UD", NULL },
        { "DrugLibrary.GetDrug", "s:@cut2", "UD", NULL },

        /* history: the range */
        { "History.Infusions", "x:-1 x:0 { }", "IA", "since_usec -1 is negative" },
        { "History.Infusions", "x:min x:0 { }", "IA", "is negative" },
        { "History.Infusions", "x:0 x:-1 { }", "IA", "until_usec -1 is negative" },
        { "History.Infusions", "x:5 x:5 { }", "IA", "is not after since_usec" },
        { "History.Infusions", "x:10 x:5 { }", "IA", "is not after since_usec" },
        { "History.Infusions", "x:max x:0 { }", "IA", "is not after since_usec" },
        { "History.Events", "x:max x:max { }", "IA", "is not after since_usec" },
        { "History.Alarms", "x:0 x:min { }", "IA", "is negative" },
        { "History.Export", "s:hl7 x:-1 x:0 { }", "IA", "is negative" },
        /* history: options */
        { "History.Infusions", "x:0 x:0 { foo=u:1 }", "IA", "has no option 'foo'" },
        { "History.Infusions", "x:0 x:0 { @1M=u:1 }", "IA", "has no option" },
        { "History.Infusions", "x:0 x:0 { @cut=u:1 }", "IA", "has no option" },
        { "History.Infusions", "x:0 x:0 { @cut2=u:1 }", "IA", "has no option" },
        { "History.Infusions", "x:0 x:0 { =u:1 }", "IA", "has no option ''" },
        { "History.Infusions", "x:0 x:0 { Limit=u:1 }", "IA", "has no option 'Limit'" },
        { "History.Infusions", "x:0 x:0 { infusion_id=x:1 }", "IA", "has no option 'infusion_id'" },
        { "History.Events", "x:0 x:0 { drug=s:heparin }", "IA", "has no option 'drug'" },
        { "History.Alarms", "x:0 x:0 { drug=s:heparin }", "IA", "has no option 'drug'" },
        { "History.Infusions", "x:0 x:0 { limit=u:0 }", "IA", "'limit' 0 is out of range" },
        { "History.Infusions", "x:0 x:0 { limit=u:1001 }", "IA", "'limit' 1001 is out of range" },
        { "History.Infusions", "x:0 x:0 { limit=u:max }", "IA", "'limit' 4294967295 is out of range" },
        { "History.Export", "s:fhir x:0 x:0 { limit=u:101 }", "IA", "'limit' 101 is out of range" },
        { "History.Infusions", "x:0 x:0 { limit=x:5 }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { limit=d:5 }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { limit=d:nan }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { limit=s:5 }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { limit=v:u:5 }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { limit=au:5 }", "IA", "'limit' must be of type u" },
        { "History.Infusions", "x:0 x:0 { after_id=x:-1 }", "IA", "'after_id' -1 is negative" },
        { "History.Infusions", "x:0 x:0 { after_id=x:min }", "IA", "is negative" },
        { "History.Infusions", "x:0 x:0 { after_id=t:max }", "IA", "'after_id' must be of type x" },
        { "History.Infusions", "x:0 x:0 { after_id=d:inf }", "IA", "'after_id' must be of type x" },
        { "History.Events", "x:0 x:0 { infusion_id=x:-1 }", "IA", "'infusion_id' -1 is negative" },
        { "History.Alarms", "x:0 x:0 { infusion_id=u:1 }", "IA", "'infusion_id' must be of type x" },
        { "History.Infusions", "x:0 x:0 { drug=s: }", "IA", "'drug' must be 1 to 128" },
        { "History.Infusions", "x:0 x:0 { drug=s:@1M }", "IA", "'drug' must be 1 to 128" },
        { "History.Infusions", "x:0 x:0 { drug=s:@ctrl }", "IA", "'drug'" },
        { "History.Infusions", "x:0 x:0 { drug=as:heparin }", "IA", "'drug' must be of type s" },
        { "History.Infusions", "x:0 x:0 { limit=u:5 limit=u:6 }", "IA", "'limit' given twice" },
        { "History.Events", "x:0 x:0 { after_id=x:1 after_id=x:1 }", "IA", "'after_id' given twice" },
        { "History.Export", "s:hl7 x:0 x:0 { drug=s:heparin drug=s:insulin }", "IA", "'drug' given twice" },
        /* history: the export format */
        { "History.Export", "s: x:0 x:0 { }", "IA", "Unknown export format ''" },
        { "History.Export", "s:HL7 x:0 x:0 { }", "IA", "Unknown export format 'HL7'" },
        { "History.Export", "s:@1M x:0 x:0 { }", "IA", "Unknown export format" },
        { "History.Export", "s:@ctrl x:0 x:0 { }", "IA", "Unknown export format" },

        /* the simulator */
        { "Simulator.AdvanceTime", "t:max", "IA", "at most 30 days" },
        { "Simulator.AdvanceTime", "t:2592000000001", "IA", "at most 30 days" },
        { "Simulator.FailSensor", "s: s:ok", "IA", "unknown sensor \"\"" },
        { "Simulator.FailSensor", "s:@1M s:ok", "IA", "unknown sensor" },
        { "Simulator.FailSensor", "s:@ctrl s:ok", "IA", "unknown sensor" },
        { "Simulator.FailSensor", "s:pressure-downstream s:", "IA", "unknown fault \"\"" },
        { "Simulator.FailSensor", "s:pressure-downstream s:@1M", "IA", "unknown fault" },
        { "Simulator.FailSensor", "s:pressure-downstream s:@ctrl", "IA", "unknown fault" },
        { "Simulator.FailSensor", "s:Pressure-Downstream s:ok", "IA", "unknown sensor" },
        /* the virtual clock is the control loop: nothing to hang, whatever the length */
        { "Simulator.HangControlLoop", "t:max", "NS", "needs the real clock" },
        { "Simulator.HangControlLoop", "t:1", "NS", "needs the real clock" },

        /* no property is writable; unknown members are named errors too */
        { "Manager:Properties.Set", "s:org.infusiond.pump1.Manager s:Version v:s:x", "RO", NULL },
        { "Manager:Properties.Set", "s:org.infusiond.pump1.Manager s:BatteryPercent v:i:-1", "RO", NULL },
        { "Channel:Properties.Set", "s:org.infusiond.pump1.Channel s:State v:s:running", "RO", NULL },
        { "Channel:Properties.Set", "s:org.infusiond.pump1.Channel s:RateMlPerHour v:d:nan", "RO", NULL },
        { "Channel:Properties.Set", "s:org.infusiond.pump1.Channel s:RateMlPerHour v:s:1e308", "RO|SIG", NULL },
        { "DrugLibrary:Properties.Set", "s:org.infusiond.pump1.DrugLibrary s:Version v:s:@1M", "RO", NULL },
        { "Simulator:Properties.Set", "s:org.infusiond.pump1.Simulator s:NowUsec v:t:0", "RO", NULL },
        { "Channel:Properties.Set", "s:org.infusiond.pump1.Channel s:@1M v:d:1", "UP", NULL },
        { "Channel:Properties.Get", "s:org.infusiond.pump1.Channel s:@ctrl", "UP", NULL },
        { "Channel:Properties.GetAll", "s:@1M", "UI|UNK", NULL },
        /* the access filter (daemon/bus-access.c) answers for a member it has no rule for */
        { "Manager.Program", "{ }", "UM|AD", NULL },
        { "Channel.program", "{ }", "UM|AD", NULL },
        { "Channel.Foo", "", "UM|AD", NULL },
        { "History.Delete", "x:0 x:0 { }", "UM|AD", NULL },
};

/* ---- building a call -------------------------------------------------- */

static char *lib_json;                  /* the sample library */

static char *replace_first(const char *text, const char *from, const char *to) {
        const char *at = strstr(text, from);
        if (!at)
                fail_msg("the sample library has no \"%s\" to replace", from);
        size_t head = at - text, n = strlen(text) - strlen(from) + strlen(to) + 1;
        char *s = malloc(n);
        assert_non_null(s);
        snprintf(s, n, "%.*s%s%s", (int) head, text, to, at + strlen(from));
        return s;
}

/* Strings too long or too odd for the table, by name. */
static char *special_string(const char *lit) {
        static const struct {
                const char *name, *from, *to;
        } libs[] = {
                /* heparin's first hard maximum (ICU) */
                { "@lib-nan", "\"hard_max\": 3000", "\"hard_max\": NaN" },
                { "@lib-inf", "\"hard_max\": 3000", "\"hard_max\": 1e999" },
                { "@lib-neg", "\"hard_max\": 3000", "\"hard_max\": -3000" },
                { "@lib-string", "\"hard_max\": 3000", "\"hard_max\": \"3000\"" },
                { "@lib-unknown-key", "\"hard_max\": 3000", "\"hard_max\": 3000, \"hard_maxx\": 3000" },
                { "@lib-dup-key", "\"hard_max\": 3000", "\"hard_max\": 3000, \"hard_max\": 30000" },
                { "@lib-ctrl-name", "\"name\": \"Heparin\"", "\"name\": \"Hep\\u001b[2Jarin\"" },
        };
        if (streq(lit, "@1M")) {
                char *s = malloc(1024 * 1024 + 1);
                assert_non_null(s);
                memset(s, 'a', 1024 * 1024);
                s[1024 * 1024] = 0;
                return s;
        }
        if (streq(lit, "@cut") || streq(lit, "@cut2")) {
                /* "a" or "aa", then 300 two-byte "é": any quote with a
                 * byte precision ("%.64s") cuts a character for one of the
                 * two, and sd-bus will not send the half (no reply at all) */
                size_t lead = streq(lit, "@cut") ? 1 : 2;
                char *s = malloc(lead + 600 + 1);
                assert_non_null(s);
                memset(s, 'a', lead);
                for (size_t i = 0; i < 300; i++)
                        memcpy(s + lead + 2 * i, "\xc3\xa9", 2);
                s[lead + 600] = 0;
                return s;
        }
        if (streq(lit, "@nl"))
                return strdup("line one\nline two");
        if (streq(lit, "@blank"))
                /* spaces, a tab's printable cousin U+3000 and a no-break space */
                return strdup("   \xe3\x80\x80 \xc2\xa0 ");
        if (streq(lit, "@invisible"))
                /* zero-width space, word joiner, BOM, Hangul filler, Braille blank */
                return strdup("\xe2\x80\x8b\xe2\x81\xa0\xef\xbb\xbf\xe3\x85\xa4\xe2\xa0\x80");
        if (streq(lit, "@c1"))
                /* U+009B, the one-byte CSI of a C1 terminal */
                return strdup("reason \xc2\x9b" "2J");
        if (streq(lit, "@ctrl"))
                /* valid UTF-8 (D-Bus requires it), but a terminal escape, a
                 * bell, a newline and DEL */
                return strdup("heparin\x1b[2J\a\n\x7f");
        if (streq(lit, "@lib-1M-name")) {
                char *big = special_string("@1M"), *to = malloc(strlen(big) + 16);
                assert_non_null(to);
                sprintf(to, "\"name\": \"%s\"", big);
                char *s = replace_first(lib_json, "\"name\": \"Heparin\"", to);
                free(big);
                free(to);
                return s;
        }
        for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++)
                if (streq(lit, libs[i].name))
                        return replace_first(lib_json, libs[i].from, libs[i].to);
        return strdup(lit);
}

static const char *word_end(const char *p) {
        while (*p && *p != ' ')
                p++;
        return p;
}

static int append_value(sd_bus_message *m, const char *type, size_t type_len, const char *lit, size_t lit_len);

/* One "TYPE:LITERAL". A literal of a basic type: a number (strtod's and
 * strtoll's forms, "max" and "min" for the type's extremes, "max" as
 * DBL_MAX for d), b 0/1, or a string (empty, or a special_string()).
 * An array "aT:L1,L2"; a struct "(TT):L1/L2"; a variant "v:TYPE:LITERAL". */
static int append_value(sd_bus_message *m, const char *type, size_t type_len, const char *lit, size_t lit_len) {
        char t = type[0];
        char buf[64];
        int r;

        if (t == 'v') {
                const char *colon = memchr(lit, ':', lit_len);
                assert_non_null(colon);
                char inner[32];
                snprintf(inner, sizeof(inner), "%.*s", (int) (colon - lit), lit);
                r = sd_bus_message_open_container(m, 'v', inner);
                if (r < 0)
                        return r;
                r = append_value(m, lit, colon - lit, colon + 1, lit_len - (colon - lit) - 1);
                return r < 0 ? r : sd_bus_message_close_container(m);
        }
        if (t == 'a' || t == '(') {
                /* an array's elements split on ',' (empty: no element; "@33x"
                 * before one: 33 copies of it), a struct's members on '/' */
                bool array = t == 'a';
                char contents[32];
                snprintf(contents, sizeof(contents), "%.*s", (int) (array ? type_len - 1 : type_len - 2), type + 1);
                r = sd_bus_message_open_container(m, array ? 'a' : 'r', contents);
                const char *p = lit, *end = lit + lit_len;
                for (size_t member = 0; r >= 0 && (array ? p < end : member < strlen(contents)); member++) {
                        unsigned long repeat = 1;
                        if (array && p[0] == '@') {
                                char *x;
                                repeat = strtoul(p + 1, &x, 10);
                                p = x + 1;
                        }
                        const char *sep = memchr(p, array ? ',' : '/', end - p) ?: end;
                        for (unsigned long k = 0; r >= 0 && k < repeat; k++)
                                r = array ? append_value(m, contents, strlen(contents), p, sep - p)
                                          : append_value(m, contents + member, 1, p, sep - p);
                        p = sep < end ? sep + 1 : end;
                }
                return r < 0 ? r : sd_bus_message_close_container(m);
        }

        snprintf(buf, sizeof(buf), "%.*s", (int) MIN(lit_len, sizeof(buf) - 1), lit);
        bool max = streq(buf, "max"), min = streq(buf, "min");
        switch (t) {
        case 's': case 'o': case 'g': {
                char *lit0 = strndup(lit, lit_len);
                char *s = special_string(lit0);
                r = sd_bus_message_append_basic(m, t, s);
                free(s);
                free(lit0);
                return r;
        }
        case 'd': {
                double d = max ? DBL_MAX : streq(buf, "-max") ? -DBL_MAX : strtod(buf, NULL);
                return sd_bus_message_append_basic(m, 'd', &d);
        }
        case 'b': {
                int b = atoi(buf);
                return sd_bus_message_append_basic(m, 'b', &b);
        }
        case 'y': {
                uint8_t v = max ? UINT8_MAX : (uint8_t) strtoul(buf, NULL, 0);
                return sd_bus_message_append_basic(m, 'y', &v);
        }
        case 'i': {
                int32_t v = max ? INT32_MAX : min ? INT32_MIN : (int32_t) strtol(buf, NULL, 0);
                return sd_bus_message_append_basic(m, 'i', &v);
        }
        case 'u': {
                uint32_t v = max ? UINT32_MAX : (uint32_t) strtoul(buf, NULL, 0);
                return sd_bus_message_append_basic(m, 'u', &v);
        }
        case 'x': {
                int64_t v = max ? INT64_MAX : min ? INT64_MIN : (int64_t) strtoll(buf, NULL, 0);
                return sd_bus_message_append_basic(m, 'x', &v);
        }
        case 't': {
                uint64_t v = max ? UINT64_MAX : (uint64_t) strtoull(buf, NULL, 0);
                return sd_bus_message_append_basic(m, 't', &v);
        }
        }
        fail_msg("type %c is not in the notation", t);
        return -EINVAL;
}

static int append_typed(sd_bus_message *m, const char *word, size_t len) {
        const char *colon = memchr(word, ':', len);
        if (!colon)
                fail_msg("\"%.*s\" is not TYPE:LITERAL", (int) len, word);
        return append_value(m, word, colon - word, colon + 1, len - (colon - word) - 1);
}

static const char *append_dict(sd_bus_message *m, const char *p, int *ret);

/* One a{sv} entry "KEY=TYPE:LITERAL" or "KEY={ ... }"; KEY may be a
 * special_string(). The value goes in a variant of its type. */
static const char *append_entry(sd_bus_message *m, const char *p, int *ret) {
        const char *end = word_end(p), *eq = memchr(p, '=', end - p);
        if (!eq)
                fail_msg("\"%.*s\" is not KEY=VALUE", (int) (end - p), p);
        char *key0 = strndup(p, eq - p), *key = special_string(key0);
        int r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append_basic(m, 's', key);
        free(key);
        free(key0);
        const char *v = eq + 1;
        if (r >= 0 && v[0] == '{') {
                r = sd_bus_message_open_container(m, 'v', "a{sv}");
                if (r >= 0)
                        end = append_dict(m, v, &r);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        } else if (r >= 0) {
                const char *colon = memchr(v, ':', end - v);
                if (!colon)
                        fail_msg("\"%.*s\" is not TYPE:LITERAL", (int) (end - v), v);
                char sig[32];
                snprintf(sig, sizeof(sig), "%.*s", (int) (colon - v), v);
                r = sd_bus_message_open_container(m, 'v', sig);
                if (r >= 0)
                        r = append_typed(m, v, end - v);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        *ret = r;
        return end;
}

/* "{ ENTRY ENTRY }": an a{sv}. Returns the position after the "}". */
static const char *append_dict(sd_bus_message *m, const char *p, int *ret) {
        int r = sd_bus_message_open_container(m, 'a', "{sv}");
        p++;
        while (r >= 0) {
                while (*p == ' ')
                        p++;
                if (*p == '}') {
                        p++;
                        break;
                }
                if (!*p)
                        fail_msg("an a{sv} is not closed");
                p = append_entry(m, p, &r);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        *ret = r;
        return p;
}

/* The arguments: words separated by spaces, each a TYPE:LITERAL or an
 * a{sv} written "{ KEY=TYPE:LITERAL ... }". */
static int append_args(sd_bus_message *m, const char *args) {
        const char *p = args;
        int r = 0;
        while (r >= 0) {
                while (*p == ' ')
                        p++;
                if (!*p)
                        break;
                if (*p == '{')
                        p = append_dict(m, p, &r);
                else {
                        const char *end = word_end(p);
                        r = append_typed(m, p, end - p);
                        p = end;
                }
        }
        return r;
}

struct target {
        char path[64];
        char iface[64];
        char member[64];
};

static void resolve(const char *method, struct target *t) {
        static const struct {
                const char *name, *path, *iface;
        } objects[] = {
                { "Manager", "/org/infusiond/pump1", "org.infusiond.pump1.Manager" },
                { "Channel", CH_PATH, CH_IFACE },
                { "DrugLibrary", "/org/infusiond/pump1/library", "org.infusiond.pump1.DrugLibrary" },
                { "History", "/org/infusiond/pump1/history", "org.infusiond.pump1.History" },
                { "Simulator", SIM_PATH, SIM_IFACE },
        };
        const char *colon = strchr(method, ':'), *dot = strrchr(method, '.');
        size_t obj_len = colon ? (size_t) (colon - method) : (size_t) (dot - method);
        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++)
                if (strlen(objects[i].name) == obj_len && strncmp(objects[i].name, method, obj_len) == 0) {
                        snprintf(t->path, sizeof(t->path), "%s", objects[i].path);
                        if (colon)
                                snprintf(t->iface, sizeof(t->iface), "org.freedesktop.DBus.%.*s",
                                         (int) (dot - colon - 1), colon + 1);
                        else
                                snprintf(t->iface, sizeof(t->iface), "%s", objects[i].iface);
                        snprintf(t->member, sizeof(t->member), "%s", dot + 1);
                        return;
                }
        fail_msg("no object for %s", method);
}

/* ---- what a case must leave as it was --------------------------------- */

/* Any message as text: every value, containers in brackets. */
static int dump(sd_bus_message *m, FILE *f) {
        for (;;) {
                const char *contents;
                char type;
                int r = sd_bus_message_peek_type(m, &type, &contents);
                if (r <= 0)
                        return r;
                if (strchr("avre", type)) {
                        r = sd_bus_message_enter_container(m, type, contents);
                        if (r < 0)
                                return r;
                        fprintf(f, "%c%s[", type, contents ?: "");
                        r = dump(m, f);
                        if (r < 0)
                                return r;
                        fputs("] ", f);
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        continue;
                }
                union {
                        uint8_t y;
                        int b;
                        int16_t n;
                        uint16_t q;
                        int32_t i;
                        uint32_t u;
                        int64_t x;
                        uint64_t t;
                        double d;
                        const char *s;
                } v;
                r = sd_bus_message_read_basic(m, type, &v);
                if (r < 0)
                        return r;
                switch (type) {
                case 'y': fprintf(f, "%u ", v.y); break;
                case 'b': fprintf(f, "%s ", v.b ? "true" : "false"); break;
                case 'n': fprintf(f, "%d ", v.n); break;
                case 'q': fprintf(f, "%u ", v.q); break;
                case 'i': fprintf(f, "%d ", v.i); break;
                case 'u': fprintf(f, "%u ", v.u); break;
                case 'x': fprintf(f, "%" PRIi64 " ", v.x); break;
                case 't': fprintf(f, "%" PRIu64 " ", v.t); break;
                case 'd': fprintf(f, "%.17g ", v.d); break;
                default: fprintf(f, "\"%s\" ", v.s); break;
                }
        }
}

/* Every property of every object: what a client can observe. */
static char *observe(struct harness *h) {
        static const char *const objects[][2] = {
                { CH_PATH, CH_IFACE },
                { "/org/infusiond/pump1", "org.infusiond.pump1.Manager" },
                { "/org/infusiond/pump1/library", "org.infusiond.pump1.DrugLibrary" },
                { SIM_PATH, SIM_IFACE },
        };
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        assert_non_null(f);
        for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) {
                sd_bus_error e = SD_BUS_ERROR_NULL;
                sd_bus_message *reply = NULL;
                int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", objects[i][0],
                                           "org.freedesktop.DBus.Properties", "GetAll", &e, &reply, "s",
                                           objects[i][1]);
                if (r < 0)
                        fail_msg("GetAll %s: %s", objects[i][1], e.message);
                fprintf(f, "%s: ", objects[i][1]);
                assert_true(dump(reply, f) >= 0);
                fputc('\n', f);
                sd_bus_message_unref(reply);
                sd_bus_error_free(&e);
        }
        assert_int_equal(fclose(f), 0);
        return text;
}

/* Every table but the audit log. */
static const char *const tables[] = {
        "infusions", "events", "alarm_events", "pca_demands", "drug_libraries", "limit_events",
        "delivery_samples", "retention", "audit_anchor",
};
#define N_TABLES (sizeof(tables) / sizeof(tables[0]))
#define LIMIT_EVENTS 5

struct snapshot {
        char *props;
        int64_t rows[N_TABLES];
        int64_t audit_max_id;
};

static void snapshot_take(struct harness *h, struct snapshot *s) {
        char sql[128];
        s->props = observe(h);
        for (size_t i = 0; i < N_TABLES; i++) {
                snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", tables[i]);
                s->rows[i] = harness_query_i64(h, sql);
        }
        s->audit_max_id = harness_query_i64(h, "SELECT coalesce(max(id), 0) FROM audit");
}

/* ---- expected errors -------------------------------------------------- */

enum fixture_state { ST_NOLIB, ST_IDLE, ST_PROGRAMMED, ST_RUNNING, _ST_MAX };
static const char *const state_names[_ST_MAX] = { "nolib", "idle", "programmed", "running" };

static const struct {
        const char *code, *name;
} codes[] = {
        { "IA", PUMP_ERR "InvalidArgument" },
        { "IS", PUMP_ERR "InvalidState" },
        { "UD", PUMP_ERR "UnknownDrug" },
        { "UA", PUMP_ERR "UnknownAlarm" },
        { "HL", PUMP_ERR "HardLimit" },
        { "SL", PUMP_ERR "SoftLimitUnconfirmed" },
        { "BN", PUMP_ERR "BasicInfusionNotAllowed" },
        { "SIG", "org.freedesktop.DBus.Error.InvalidArgs" },
        { "UM", "org.freedesktop.DBus.Error.UnknownMethod" },
        { "RO", "org.freedesktop.DBus.Error.PropertyReadOnly" },
        { "UP", "org.freedesktop.DBus.Error.UnknownProperty" },
        { "UI", "org.freedesktop.DBus.Error.UnknownInterface" },
        { "UNK", "org.freedesktop.DBus.Error.UnknownObject" },
        { "NS", PUMP_ERR "NotSupported" },
        { "AD", PUMP_ERR "AccessDenied" },
};

static bool code_matches(const char *code, size_t len, const char *name) {
        if (len == 3 && strncmp(code, "ANY", 3) == 0)
                return strncmp(name, PUMP_ERR, strlen(PUMP_ERR)) == 0;
        for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
                if (strlen(codes[i].code) == len && strncmp(codes[i].code, code, len) == 0)
                        return streq(codes[i].name, name);
        fail_msg("unknown error code %.*s", (int) len, code);
        return false;
}

/* want: "IA" (an error code above), alternatives "IA|IS", and per state
 * "IA;running=IS". "ANY" is any org.infusiond.pump1.Error. */
static bool want_matches(const char *want, enum fixture_state st, const char *name) {
        const char *alts = want;
        size_t alts_len = strcspn(want, ";");
        for (const char *p = want + alts_len; *p == ';'; p += strcspn(p + 1, ";") + 1) {
                size_t n = strcspn(p + 1, "=");
                if (strncmp(p + 1, state_names[st], n) == 0 && strlen(state_names[st]) == n) {
                        alts = p + 1 + n + 1;
                        alts_len = strcspn(alts, ";");
                }
        }
        for (const char *a = alts; a < alts + alts_len;) {
                size_t n = strcspn(a, "|;");
                if (code_matches(a, n, name))
                        return true;
                a += n + (a[n] == '|');
        }
        return false;
}

/* Commands are audited, refused or not (docs/API.md): every Channel
 * method but the read GetPcaDemands, every Simulator method and Import. */
static bool audited(const char *method) {
        return (strncmp(method, "Channel.", 8) == 0 && !streq(method, "Channel.GetPcaDemands")) ||
               strncmp(method, "Simulator.", 10) == 0 || streq(method, "DrugLibrary.Import");
}

/* ---- running a case --------------------------------------------------- */

static bool daemon_alive(struct harness *h) {
        int status;
        return h->daemon_pid > 0 && waitpid(h->daemon_pid, &status, WNOHANG) == 0;
}

static bool daemon_answers(struct harness *h) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", "/org/infusiond/pump1", "org.freedesktop.DBus.Peer",
                                   "Ping", &e, NULL, "");
        sd_bus_error_free(&e);
        return r >= 0;
}

/* Run one case; on a failure print why and return false. */
static bool run_case(struct harness *h, enum fixture_state st, const struct bad_call *c) {
        struct target t;
        struct snapshot before, after;
        sd_bus_message *m = NULL;
        sd_bus_error e = SD_BUS_ERROR_NULL;
        bool ok = true;
        char where[160];

        snprintf(where, sizeof(where), "[%s] %s(%.80s)", state_names[st], c->method, c->args);
        resolve(c->method, &t);
        snapshot_take(h, &before);

        assert_true(sd_bus_message_new_method_call(h->bus, &m, "org.infusiond.pump1", t.path, t.iface, t.member) >= 0);
        if (append_args(m, c->args) < 0)
                fail_msg("%s: the arguments do not build", where);
        int r = sd_bus_call(h->bus, m, 30 * 1000000ULL, &e, NULL);
        sd_bus_message_unref(m);

        const char *name = r < 0 && e.name ? e.name : "";
        if (getenv("MALFORMED_VERBOSE"))
                fprintf(stderr, "%s: %s: %.200s\n", where, name, e.message ?: "");
        if (r >= 0) {
                fprintf(stderr, "FAIL %s: accepted, want %s\n", where, c->want);
                ok = false;
        } else if (!name[0]) {
                fprintf(stderr, "FAIL %s: an error with no name (%s)\n", where, strerror(-r));
                ok = false;
        } else if (!want_matches(c->want, st, name)) {
                fprintf(stderr, "FAIL %s: got %s (%.300s), want %s\n", where, name, e.message ?: "", c->want);
                ok = false;
        } else if (!e.message || !e.message[0]) {
                fprintf(stderr, "FAIL %s: %s without a message\n", where, name);
                ok = false;
        } else if (c->msg && !strstr(e.message, c->msg)) {
                fprintf(stderr, "FAIL %s: %s: message \"%.300s\" lacks \"%s\"\n", where, name, e.message, c->msg);
                ok = false;
        }

        if (!daemon_alive(h)) {
                fprintf(stderr, "FAIL %s: the daemon died\n", where);
                harness_print_log(h, "infusiond.log");
                fail_msg("the daemon died");
        }
        if (!daemon_answers(h)) {
                fprintf(stderr, "FAIL %s: the daemon does not answer Ping\n", where);
                fail_msg("the daemon does not answer");
        }

        snapshot_take(h, &after);
        if (!streq(before.props, after.props)) {
                fprintf(stderr, "FAIL %s: the observable state changed\nbefore: %s\nafter:  %s\n", where,
                        before.props, after.props);
                ok = false;
        }
        /* A refusal by the library's limits is recorded for pharmacy, once;
         * nothing else may leave a row. */
        bool limit_refusal = streq(name, PUMP_ERR "HardLimit") || streq(name, PUMP_ERR "SoftLimitUnconfirmed") ||
                             streq(name, PUMP_ERR "BasicInfusionNotAllowed");
        for (size_t i = 0; i < N_TABLES; i++) {
                int64_t want = before.rows[i] + (i == LIMIT_EVENTS && limit_refusal);
                if (after.rows[i] != want) {
                        fprintf(stderr, "FAIL %s: %s has %" PRIi64 " rows, want %" PRIi64 "\n", where, tables[i],
                                after.rows[i], want);
                        ok = false;
                }
        }
        /* The audit log: one row naming the refusal for a command that
         * reached the daemon or was denied access, none for a read or a
         * call sd-bus refused. */
        bool reached = strncmp(name, PUMP_ERR, strlen(PUMP_ERR)) == 0;
        char sql[512];
        int64_t want_audit = (audited(c->method) && reached) || streq(name, PUMP_ERR "AccessDenied") ? 1 : 0;
        int64_t n_audit = harness_query_i64(h, (snprintf(sql, sizeof(sql), "SELECT count(*) FROM audit WHERE id > %" PRIi64,
                                                         before.audit_max_id), sql));
        int64_t n_named = harness_query_i64(h, (snprintf(sql, sizeof(sql),
                                                         "SELECT count(*) FROM audit WHERE id > %" PRIi64 " AND outcome = '%s'",
                                                         before.audit_max_id, name), sql));
        if (n_audit != want_audit || n_named != want_audit) {
                fprintf(stderr, "FAIL %s: %" PRIi64 " audit rows (%" PRIi64 " with outcome %s), want %" PRIi64 "\n", where,
                        n_audit, n_named, name, want_audit);
                ok = false;
        }

        free(before.props);
        free(after.props);
        sd_bus_error_free(&e);
        return ok;
}

/* ---- the generated cases ---------------------------------------------- */

struct case_list {
        struct bad_call *items;
        size_t n, cap;
};

static void add(struct case_list *l, const char *method, const char *want, const char *msg, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void add(struct case_list *l, const char *method, const char *want, const char *msg, const char *fmt, ...) {
        char *args;
        va_list ap;
        va_start(ap, fmt);
        assert_true(vasprintf(&args, fmt, ap) >= 0);
        va_end(ap);
        if (l->n == l->cap) {
                l->cap = l->cap ? 2 * l->cap : 256;
                l->items = realloc(l->items, l->cap * sizeof(*l->items));
                assert_non_null(l->items);
        }
        l->items[l->n++] = (struct bad_call) { method, args, want, msg ? strdup(msg) : NULL };
}

/* Doubles no argument accepts: not finite, or too large for any
 * conversion. */
static const char *const nonsense_doubles[] = { "nan", "-nan", "inf", "-inf", "1e308", "-1e308", "max", "-max" };
/* Doubles that are finite but never a rate, volume, weight or limit:
 * 1e-300 is above 0 but rounds to no nanolitre. */
static const char *const zero_negative_or_tiny[] = { "-1", "0", "-0", "-4.9e-324", "1e-300" };

/* Every numeric argument and a{sv} key, each with a program that is
 * otherwise valid, so the value is what gets it refused. */
static void add_sweeps(struct case_list *l) {
        static const struct {
                const char *key, *base;
                bool zero_ok;   /* 0 means something: no KVO, no limit KVO */
        } program_d[] = {
                { "RateMlPerHour", "CareArea=s:Med-Surg VtbiMl=d:5" },
                { "VtbiMl", "CareArea=s:Med-Surg RateMlPerHour=d:10" },
                { "KvoRateMlPerHour", BASIC, true },
                { "LoadingVolumeMl", "Mode=s:loading CareArea=s:Med-Surg RateMlPerHour=d:10 VtbiMl=d:20 LoadingRateMlPerHour=d:50" },
                { "LoadingRateMlPerHour", "Mode=s:loading CareArea=s:Med-Surg RateMlPerHour=d:10 VtbiMl=d:20 LoadingVolumeMl=d:2" },
                { "DoseVolumeMl", "Mode=s:intermittent CareArea=s:Med-Surg IntervalSec=u:3600 Doses=u:3 DurationSec=u:600" },
                { "DoseRate", HEPARIN },
                { "PatientWeightKg", BASIC },
                { "PatientHeightCm", BASIC },
                { "OcclusionLimitMmHg", BASIC },
                { "PcaDoseMl", PCA_BASE " LimitMl=d:10" },
                { "PcaDose", PCA_BASE " LimitMl=d:10" },
                { "LimitMl", PCA_BASE " PcaDoseMl=d:1" },
                { "LimitDose", PCA_BASE " PcaDoseMl=d:1" },
                { "BasalRateMlPerHour", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10" },
                { "BasalDose", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10" },
                { "LoadingDoseMl", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10" },
                { "LoadingDose", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10" },
                { "PcaBolusRateMlPerHour", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10" },
                { "LimitKvoRateMlPerHour", PCA_BASE " PcaDoseMl=d:1 LimitMl=d:10", true },
        };
        static const struct {
                const char *key, *base;
        } program_u[] = {
                { "DurationSec", "Mode=s:volume-time CareArea=s:Med-Surg VtbiMl=d:5" },
                { "IntervalSec", "Mode=s:intermittent CareArea=s:Med-Surg DoseVolumeMl=d:1 Doses=u:3 DurationSec=u:600" },
                { "Doses", "Mode=s:intermittent CareArea=s:Med-Surg DoseVolumeMl=d:1 IntervalSec=u:3600 DurationSec=u:600" },
                { "RampUpSec", "Mode=s:ramp CareArea=s:Med-Surg VtbiMl=d:50 DurationSec=u:3600 RampDownSec=u:600" },
                { "RampDownSec", "Mode=s:ramp CareArea=s:Med-Surg VtbiMl=d:50 DurationSec=u:3600 RampUpSec=u:600" },
                { "LockoutSec", "Mode=s:pca CareArea=s:Med-Surg VtbiMl=d:50 MaxDosesPerHour=u:4 LimitWindowSec=u:14400 PcaDoseMl=d:1 LimitMl=d:10" },
                { "MaxDosesPerHour", "Mode=s:pca CareArea=s:Med-Surg VtbiMl=d:50 LockoutSec=u:600 LimitWindowSec=u:14400 PcaDoseMl=d:1 LimitMl=d:10" },
                { "LimitWindowSec", "Mode=s:pca CareArea=s:Med-Surg VtbiMl=d:50 LockoutSec=u:600 MaxDosesPerHour=u:4 PcaDoseMl=d:1 LimitMl=d:10" },
                { "Concentration", HEPARIN " DoseRate=d:1000" },
        };
        /* Integers of the wrong width or sign where a u is expected. */
        static const char *const wrong_ints[] = { "i:-1", "x:max", "x:min", "t:max", "d:60", "y:1", "s:60" };

        for (size_t i = 0; i < sizeof(program_d) / sizeof(program_d[0]); i++) {
                char msg[96];
                for (size_t v = 0; v < sizeof(nonsense_doubles) / sizeof(nonsense_doubles[0]); v++) {
                        /* Not finite: refused as it is read, naming the key.
                         * Finite but huge: some keys are judged by the pump,
                         * which first refuses a running channel's Program. */
                        bool finite = strstr(nonsense_doubles[v], "e308") || strstr(nonsense_doubles[v], "max");
                        snprintf(msg, sizeof(msg), "%s", program_d[i].key);
                        add(l, "Channel.Program", finite ? "IA|UD;running=IA|IS" : "IA", finite ? NULL : msg, "{ %s %s=d:%s }",
                            program_d[i].base, program_d[i].key, nonsense_doubles[v]);
                }
                for (size_t v = 0; v < sizeof(zero_negative_or_tiny) / sizeof(zero_negative_or_tiny[0]); v++) {
                        bool zero = streq(zero_negative_or_tiny[v], "0") || streq(zero_negative_or_tiny[v], "-0");
                        if (program_d[i].zero_ok && zero)
                                continue;
                        /* Refused by its own check, by the channel or, while
                         * running, by the state: any named refusal will do. */
                        add(l, "Channel.Program", "ANY", NULL, "{ %s %s=d:%s }", program_d[i].base, program_d[i].key,
                            zero_negative_or_tiny[v]);
                }
                add(l, "Channel.Program", "IA", "must be of D-Bus type d", "{ %s %s=x:max }", program_d[i].base,
                    program_d[i].key);
                add(l, "Channel.Program", "IA", "must be of D-Bus type d", "{ %s %s=t:max }", program_d[i].base,
                    program_d[i].key);
                add(l, "Channel.Program", "IA", "must be of D-Bus type d", "{ %s %s=s:1 }", program_d[i].base,
                    program_d[i].key);
        }
        for (size_t i = 0; i < sizeof(program_u) / sizeof(program_u[0]); i++) {
                for (size_t v = 0; v < sizeof(wrong_ints) / sizeof(wrong_ints[0]); v++)
                        add(l, "Channel.Program", "IA", "must be of D-Bus type", "{ %s %s=%s }", program_u[i].base,
                            program_u[i].key, wrong_ints[v]);
                add(l, "Channel.Program", "ANY", NULL, "{ %s %s=u:max }", program_u[i].base, program_u[i].key);
        }

        /* Titrate and Bolus: every double key. */
        static const struct {
                const char *method, *key, *rest;
        } small_d[] = {
                { "Channel.Titrate", "RateMlPerHour", "" },
                { "Channel.Titrate", "DoseRate", "" },
                { "Channel.Bolus", "BolusMl", "BolusRateMlPerHour=d:100" },
                { "Channel.Bolus", "BolusDose", "BolusRateMlPerHour=d:100" },
                { "Channel.Bolus", "BolusRateMlPerHour", "BolusMl=d:1" },
        };
        for (size_t i = 0; i < sizeof(small_d) / sizeof(small_d[0]); i++) {
                char msg[96];
                snprintf(msg, sizeof(msg), "%s must be a finite number above 0", small_d[i].key);
                for (size_t v = 0; v < sizeof(nonsense_doubles) / sizeof(nonsense_doubles[0]); v++) {
                        /* 1e308 is finite and above 0: its conversion refuses it */
                        bool finite = nonsense_doubles[v][0] == '1' || streq(nonsense_doubles[v], "max");
                        if (!finite)
                                add(l, small_d[i].method, "IA", msg, "{ %s=d:%s %s }", small_d[i].key, nonsense_doubles[v],
                                    small_d[i].rest);
                        else
                                /* a volume or rate names the value; a dose is
                                 * judged by the pump, which may first say there
                                 * is no drug to dose */
                                add(l, small_d[i].method, "IA", strstr(small_d[i].key, "Dose") ? NULL : "e+308",
                                    "{ %s=d:%s %s }", small_d[i].key, nonsense_doubles[v], small_d[i].rest);
                }
                for (size_t v = 0; v < sizeof(zero_negative_or_tiny) / sizeof(zero_negative_or_tiny[0]); v++) {
                        if (streq(zero_negative_or_tiny[v], "1e-300"))
                                /* above 0: in mL it is below the resolution; as a dose, judged by the pump */
                                add(l, small_d[i].method, "ANY", NULL, "{ %s=d:1e-300 %s }", small_d[i].key, small_d[i].rest);
                        else
                                add(l, small_d[i].method, "IA", msg, "{ %s=d:%s %s }", small_d[i].key,
                                    zero_negative_or_tiny[v], small_d[i].rest);
                }
        }

        /* The simulator's doubles. */
        static const struct {
                const char *method, *head, *msg;
        } sim_d[] = {
                { "Simulator.InjectAir", "", "InjectAir" },
                { "Simulator.SetBattery", "b:1 ", "SetBattery" },
                { "Simulator.SetBattery", "b:0 ", "SetBattery" },
                { "Simulator.SetMotorGain", "", "SetMotorGain" },
        };
        static const char *const sim_bad[] = { "nan", "-nan", "inf", "-inf", "1e308", "-1e308", "max", "-max", "-1", "-4.9e-324" };
        for (size_t i = 0; i < sizeof(sim_d) / sizeof(sim_d[0]); i++)
                for (size_t v = 0; v < sizeof(sim_bad) / sizeof(sim_bad[0]); v++)
                        add(l, sim_d[i].method, "IA", sim_d[i].msg, "%sd:%s", sim_d[i].head, sim_bad[v]);
        add(l, "Simulator.InjectAir", "IA", "InjectAir", "d:0");
        add(l, "Simulator.InjectAir", "IA", "InjectAir", "d:-0");
        add(l, "Simulator.InjectAir", "IA", "InjectAir", "d:10000.001");
        /* a bubble smaller than the sim's nanolitre is no bubble */
        add(l, "Simulator.InjectAir", "IA", "InjectAir", "d:1e-300");
        add(l, "Simulator.InjectAir", "IA", "InjectAir", "d:0.0004");
        add(l, "Simulator.SetBattery", "IA", "SetBattery", "b:1 d:100.001");
        add(l, "Simulator.SetMotorGain", "IA", "SetMotorGain", "d:2.001");

        /* Signatures: none, one too many, and the wrong type, for every method. */
        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                const char *sig = methods[i].sig;
                if (sig[0]) {
                        add(l, methods[i].method, "SIG", NULL, "%s", "");
                        add(l, methods[i].method, "SIG", NULL, "%s", sig[0] == 's' ? "u:1" : "s:1");
                        add(l, methods[i].method, "SIG", NULL, "v:%s", sig[0] == 's' ? "s:x" : "d:1");
                } else
                        add(l, methods[i].method, "SIG", NULL, "%s", "y:0");
                if (!methods[i].extra_ignored)
                        add(l, methods[i].method, "SIG", NULL, "%s%su:7", methods[i].ok_args, methods[i].ok_args[0] ? " " : "");
                if (strstr(sig, "a{sv}")) {
                        /* a dictionary of the wrong value type, in the right place */
                        char *wrong = strdup(methods[i].ok_args), *brace = strchr(wrong, '{');
                        *brace = 0;
                        add(l, methods[i].method, "SIG", NULL, "%sas:a,b", wrong);
                        add(l, methods[i].method, "SIG", NULL, "%sa(sv):", wrong);
                        free(wrong);
                }
        }
}

/* ---- the fixtures ----------------------------------------------------- */

struct fixture {
        struct harness h;
        enum fixture_state st;
};

static void import_library(struct harness *h) {
        sd_bus_error e = SD_BUS_ERROR_NULL;
        int r = sd_bus_call_method(h->bus, "org.infusiond.pump1", "/org/infusiond/pump1/library",
                                   "org.infusiond.pump1.DrugLibrary", "Import", &e, NULL, "s", lib_json);
        if (r < 0)
                fail_msg("Import: %s", e.message);
        sd_bus_error_free(&e);
}

static int setup_state(void **state, enum fixture_state st) {
        struct fixture *f = calloc(1, sizeof(*f));
        char err[128], msg[512];
        f->st = st;
        harness_setup(&f->h);
        harness_write_config(&f->h, "virtual", NULL);
        harness_start_daemon(&f->h);
        if (st >= ST_IDLE)
                import_library(&f->h);
        if (st >= ST_PROGRAMMED) {
                /* midazolam 5 mg/h in ICU: 5 mL/h at 1 mg/mL; its limits
                 * leave room for a soft override of the rate and a bolus */
                struct harness *h = &f->h;
                if (CALL_DICT(h, "Program", err, msg, 5, "Drug", "s", "midazolam", "CareArea", "s", "ICU", "Concentration",
                              "u", 0, "DoseRate", "d", 5.0, "VtbiMl", "d", 50.0) < 0)
                        fail_msg("Program: %s: %s", err, msg);
        }
        if (st >= ST_RUNNING) {
                assert_int_equal(call_simple(&f->h, "Start", err, sizeof(err)), 0);
                call_advance(&f->h, 60 * 1000000ULL);
        }
        *state = f;
        return 0;
}

static int setup_nolib(void **state) { return setup_state(state, ST_NOLIB); }
static int setup_idle(void **state) { return setup_state(state, ST_IDLE); }
static int setup_programmed(void **state) { return setup_state(state, ST_PROGRAMMED); }
static int setup_running(void **state) { return setup_state(state, ST_RUNNING); }

static int teardown(void **state) {
        struct fixture *f = *state;
        harness_teardown(&f->h);
        free(f);
        return 0;
}

static void run_all(struct fixture *f) {
        struct case_list l = {};
        size_t failed = 0;
        add_sweeps(&l);
        size_t total = sizeof(cases) / sizeof(cases[0]) + l.n;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
                failed += !run_case(&f->h, f->st, &cases[i]);
        for (size_t i = 0; i < l.n; i++)
                failed += !run_case(&f->h, f->st, &l.items[i]);
        fprintf(stderr, "[%s] %zu malformed calls, %zu failed\n", state_names[f->st], total, failed);

        if (f->st == ST_RUNNING) {
                /* Still delivering at the rate it had: nothing above touched it. */
                assert_true(get_double(&f->h, CH_PATH, CH_IFACE, "CurrentRateMlPerHour") == 5.0);
                double before = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl");
                call_advance(&f->h, 60 * 1000000ULL);
                double delivered = get_double(&f->h, CH_PATH, CH_IFACE, "VolumeInfusedMl") - before;
                assert_true(delivered > 5.0 / 60 - 0.001 && delivered < 5.0 / 60 + 0.001);
        }
        for (size_t i = 0; i < l.n; i++) {
                free((char *) l.items[i].args);
                free((char *) l.items[i].msg);
        }
        free(l.items);
        if (failed)
                fail_msg("%zu of %zu malformed calls in state %s were not refused cleanly (listed above)", failed, total,
                         state_names[f->st]);
}

static void malformed_calls_without_a_library_are_refused_by_name(void **state) { run_all(*state); }
static void malformed_calls_while_idle_are_refused_by_name(void **state) { run_all(*state); }
static void malformed_calls_while_programmed_are_refused_by_name(void **state) { run_all(*state); }
static void malformed_calls_while_running_leave_the_rate_alone(void **state) { run_all(*state); }

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
                fwrite(buf, 1, n, out);
        fclose(f);
        fclose(out);
        return text;
}

int main(void) {
        char path[512];
        const char *dir = getenv("CONFIG_DIR");
        if (!dir) {
                fprintf(stderr, "CONFIG_DIR is not set (run through meson test)\n");
                return 1;
        }
        snprintf(path, sizeof(path), "%s/drug-library.sample.json", dir);
        lib_json = read_file(path);
        if (!lib_json) {
                fprintf(stderr, "cannot read %s\n", path);
                return 1;
        }
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(malformed_calls_without_a_library_are_refused_by_name, setup_nolib, teardown),
                cmocka_unit_test_setup_teardown(malformed_calls_while_idle_are_refused_by_name, setup_idle, teardown),
                cmocka_unit_test_setup_teardown(malformed_calls_while_programmed_are_refused_by_name, setup_programmed, teardown),
                cmocka_unit_test_setup_teardown(malformed_calls_while_running_leave_the_rate_alone, setup_running, teardown),
        };
        int failed = cmocka_run_group_tests(tests, NULL, NULL);
        free(lib_json);
        return failed;
}
