/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The profit guard of the KSM policy: stops a KSM that does not pay. Pure,
 * like the policy: the state from one decision to the next (SpProfitGuard,
 * in SpDecision.guard) goes in and out explicitly, time is an input.
 *
 *   off ──KSM runs──► watching ──profit_min_scans full scans, not paying──► slowed
 *   slowed ──paying again──► watching
 *   slowed ──profit_min_scans more scans at the lowest rate, still not paying──► stopped
 *   stopped ──committed changed by more than profit_retry_committed_change %,
 *             or profit_retry_interval passed──► watching
 *   watching, slowed ──committed changed by more than profit_retry_committed_change %
 *             (guests starting, stopping, filling their memory)──► watching afresh
 *
 * "Not paying": general_profit <= 0 (the kernel's estimate: saved memory
 * less KSM's rmap items), or the memory saved per CPU-second ksmd spends
 * on a full scan below profit_min_kib_per_cpu_second (when known).
 */
#pragma once

#include <glib.h>

#include "sp-config.h"
#include "sp-ksm-decision.h"
#include "sp-ksmd-cost.h"

G_BEGIN_DECLS

typedef enum {
  SP_PROFIT_VERDICT_RUN,  /* as the policy decided */
  SP_PROFIT_VERDICT_SLOW, /* run at the lowest scan rate */
  SP_PROFIT_VERDICT_STOP, /* stop KSM (run=0, or run=2 with profit_guard_unmerge) */
} SpProfitVerdict;

typedef struct {
  const SpConfig *config;
  SpProfitGuard previous; /* the last decision's guard */
  gboolean wants_run;     /* the policy, from memory alone, would run KSM */
  const SpKsmCost *cost;  /* full_scans, general_profit, saving per CPU-second */
  guint64 committed_kib;
  gint64 now_us; /* monotonic */
} SpProfitGuardInput;

/*
 * The guard's verdict for this decision; *next is its new state. When the
 * verdict is not RUN, or the guard changed phase, it appends its reason to
 * reason (", profit guard: ...").
 */
SpProfitVerdict sp_profit_guard_decide (const SpProfitGuardInput *input, SpProfitGuard *next,
                                        GString *reason);

G_END_DECLS
