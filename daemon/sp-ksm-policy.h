/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The KSM policy: a pure function from one snapshot of inputs to one
 * decision (SpDecision). No I/O, no clock, no globals: the tests drive it
 * with tables. SpKsmPolicy runs it as the tuner's SpPolicy (sp-policy.h).
 *
 * Baseline is ksmtuned, recomputed on every call:
 *   thres = max(thres_const, total * thres_coef / 100)
 *   sleep = max(10, sleep_msec * 16 GiB / total)
 *   stop  when committed + thres < total and free > thres
 *   else  run with npages += boost (free < thres) or += decay, clamped
 * plus memory pressure (a PSI trigger: run at npages_max, and it overrides the profit guard's
 * stop), hysteresis, the advisor (with its page rate capped by the guests' committed memory),
 * mode always/never, and in mode auto the profit guard (sp-profit-guard.h): the lowest rate,
 * then a stop, for a KSM that does not pay.
 */
#pragma once

#include <glib-object.h>

#include "sp-config.h"
#include "sp-enums.h"
#include "sp-ksm-decision.h"
#include "sp-ksm.h"
#include "sp-ksmd-cost.h"
#include "sp-meminfo.h"
#include "sp-policy.h"

G_BEGIN_DECLS

typedef struct {
  const SpConfig *config;
  SpMeminfo mem;
  guint64 committed_kib;    /* guest memory KSM may merge */
  SpKsmState ksm;           /* as read from sysfs just before deciding */
  SpAction previous_action; /* the last decision (NONE at start) */
  gint64 previous_npages;   /* the last decision's npages (advisor mode) */
  guint64 page_kib;         /* the base page size KSM merges (0: 4 KiB) */
  /* memory pressure (a PSI trigger fired, sp-psi-trigger.h): its
   * description, or NULL. With it KSM runs (unless mode is never) at the top
   * rate, npages_max (the advisor at its max_cpu and shortest scan time),
   * and the reason starts with it. */
  const char *pressure;
  /* the profit guard (sp-profit-guard.h): its state after the last
   * decision, this window's cost (NULL: unknown, the guard stays off) and
   * the monotonic time */
  SpProfitGuard previous_guard;
  /* the advisor's warm-up after the last decision */
  SpAdvisorWarmup previous_warmup;
  const SpKsmCost *cost;
  gint64 now_us;
} SpKsmPolicyInput;

void sp_ksm_policy_decide (const SpKsmPolicyInput *input, SpDecision *decision);

/* The threshold and sleep of ksmtuned's formulas, exposed for tests/D-Bus. */
guint64 sp_ksm_policy_threshold_kib (const SpConfig *config, guint64 total_kib);
gint64 sp_ksm_policy_sleep_millisecs (const SpConfig *config, guint64 total_kib);

/*
 * The KSM policy as a part of the tuner: decides next->decision from next's
 * config, memory, guests (their committed memory) and KSM state, and the
 * previous decision; urgent when KSM should start or stop. The base page
 * size is read once, here.
 */
#define SP_TYPE_KSM_POLICY (sp_ksm_policy_get_type ())
G_DECLARE_FINAL_TYPE (SpKsmPolicy, sp_ksm_policy, SP, KSM_POLICY, GObject)

SpPolicy *sp_ksm_policy_new (void);

G_END_DECLS
