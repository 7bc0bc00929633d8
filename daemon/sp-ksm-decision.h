/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDecision: what the KSM policy (sp-ksm-policy.h) decided in one tuning
 * pass: the action, why, the values it computed on the way, and the knob
 * settings the KSM actuator (sp-ksm-actuator.h) writes. Each snapshot holds
 * the one it was made with (SpSnapshot.decision).
 */
#pragma once

#include <glib.h>

#include "sp-enums.h"
#include "sp-ksm.h"

G_BEGIN_DECLS

/* A knob the decision wants to have, with its value. */
typedef struct {
  SpKsmField field;
  gint64 value;
} SpKnobSetting;

#define SP_DECISION_MAX_SETTINGS 8

/* Where the profit guard (sp-profit-guard.h) stands. */
typedef enum {
  SP_PROFIT_GUARD_OFF,      /* profit_guard = off, KSM not running, or no full_scans file */
  SP_PROFIT_GUARD_WATCHING, /* KSM runs; judged after profit_min_scans full scans */
  SP_PROFIT_GUARD_SLOWED,   /* did not pay: the lowest scan rate for profit_min_scans scans */
  SP_PROFIT_GUARD_STOPPED,  /* still did not pay: KSM stopped until a retry */
} SpProfitGuardPhase;

/* The profit guard's state from one decision to the next (plain values:
 * copied with the decision). */
typedef struct {
  SpProfitGuardPhase phase;
  gint64 since_scans;    /* full_scans when the phase began */
  gint64 since_us;       /* monotonic time the phase began */
  guint64 committed_kib; /* committed memory when KSM was stopped */
} SpProfitGuard;

/* "off", "watching", "slowed", "stopped" */
const char *sp_profit_guard_phase_to_string (SpProfitGuardPhase phase);

/* The advisor's warm-up (sp-ksm-policy.c): classic steering from the
 * start of a KSM run, or a growth of the committed memory, until KSM has
 * done SP_ADVISOR_WARMUP_SCANS full scans. */
typedef struct {
  gboolean active;
  gint64 since_scans;    /* full_scans when the warm-up began */
  guint64 committed_kib; /* while the advisor runs: the least committed memory since */
} SpAdvisorWarmup;

typedef struct {
  SpAction action;
  char *reason; /* human readable, e.g. "run: available 3.1 GiB < threshold ..." */

  /* the inputs and intermediate values, for logs, D-Bus and metrics */
  guint64 total_kib;
  guint64 free_kib;
  guint64 committed_kib;
  guint64 threshold_kib;
  gint64 npages;
  gint64 sleep_millisecs;
  gboolean use_advisor;
  gint64 advisor_max_cpu;
  gint64 advisor_target_scan_time;
  gint64 advisor_max_pages; /* 0: not written (the kernel has no such file) */
  SpProfitGuard guard;      /* the profit guard after this decision */
  SpAdvisorWarmup warmup;   /* the advisor's warm-up after this decision */

  /* what to write, in order (only values; the actuator skips unchanged knobs) */
  SpKnobSetting settings[SP_DECISION_MAX_SETTINGS];
  guint n_settings;
} SpDecision;

/* Frees decision->reason and resets the decision. */
void sp_decision_clear (SpDecision *decision);
void sp_decision_copy (SpDecision *dest, const SpDecision *src);

G_END_DECLS
