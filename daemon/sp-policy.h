/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tuning policy: a pure function from one snapshot of inputs to one
 * decision. No I/O, no clock, no globals: the tests drive it with tables.
 *
 * Baseline is ksmtuned, recomputed on every call:
 *   thres = max(thres_const, total * thres_coef / 100)
 *   sleep = max(10, sleep_msec * 16 GiB / total)
 *   stop  when committed + thres < total and free > thres
 *   else  run with npages += boost (free < thres) or += decay, clamped
 * plus hysteresis, the advisor (with its page rate capped by the guests'
 * committed memory), and mode always/never.
 */
#pragma once

#include <glib.h>

#include "sp-config.h"
#include "sp-enums.h"
#include "sp-ksm.h"
#include "sp-meminfo.h"

G_BEGIN_DECLS

typedef struct {
  const SpConfig *config;
  SpMeminfo mem;
  guint64 committed_kib;    /* guest memory KSM may merge */
  SpKsmState ksm;           /* as read from sysfs just before deciding */
  SpAction previous_action; /* the last decision (NONE at start) */
  gint64 previous_npages;   /* the last decision's npages (advisor mode) */
  guint64 page_kib;         /* the base page size KSM merges (0: 4 KiB) */
} SpPolicyInput;

/* A knob the decision wants to have, with its value. */
typedef struct {
  SpKsmField field;
  gint64 value;
} SpKnobSetting;

#define SP_POLICY_MAX_SETTINGS 8

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

  /* what to write, in order (only values; the knob writer skips unchanged) */
  SpKnobSetting settings[SP_POLICY_MAX_SETTINGS];
  guint n_settings;
} SpDecision;

void sp_policy_decide (const SpPolicyInput *input, SpDecision *decision);

/* Frees decision->reason and resets the decision. */
void sp_decision_clear (SpDecision *decision);
void sp_decision_copy (SpDecision *dest, const SpDecision *src);

/* The threshold and sleep of ksmtuned's formulas, exposed for tests/D-Bus. */
guint64 sp_policy_threshold_kib (const SpConfig *config, guint64 total_kib);
gint64 sp_policy_sleep_millisecs (const SpConfig *config, guint64 total_kib);

G_END_DECLS
