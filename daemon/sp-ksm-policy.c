/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-policy"

#include "sp-ksm-policy.h"

#include "sp-domain.h"
#include "sp-io.h"
#include "sp-profit-guard.h"
#include "sp-str.h"

#define KIB_PER_16_GIB (G_GUINT64_CONSTANT (16) * 1024 * 1024)
#define SP_MIN_SLEEP_MILLISECS 10

/* advisor_max_pages_to_scan: the kernel's default is the ceiling, and the
 * cap leaves the advisor this many times the rate its target needs */
#define SP_ADVISOR_MAX_PAGES_CEILING 30000
#define SP_ADVISOR_MIN_PAGES_DEFAULT 500
#define SP_ADVISOR_PAGES_HEADROOM 4
/* full scans of classic steering before the advisor takes over (KSM merges
 * a page on the second full scan that sees it unchanged) */
#define SP_ADVISOR_WARMUP_SCANS 2
/* a growth of the committed memory (percent) that starts a warm-up again */
#define SP_ADVISOR_WARMUP_GROWTH_PCT 20

guint64
sp_ksm_policy_threshold_kib (const SpConfig *config, guint64 total_kib)
{
  guint64 by_coef = total_kib / 100 * (guint64) config->thres_coef +
                    total_kib % 100 * (guint64) config->thres_coef / 100;

  return MAX ((guint64) config->thres_const_kib, by_coef);
}

gint64
sp_ksm_policy_sleep_millisecs (const SpConfig *config, guint64 total_kib)
{
  guint64 sleep;

  if (total_kib == 0)
    return MAX (SP_MIN_SLEEP_MILLISECS, config->sleep_msec);
  /* sleep_msec is at most 10000, so this cannot overflow */
  sleep = (guint64) config->sleep_msec * KIB_PER_16_GIB / total_kib;
  return MAX (SP_MIN_SLEEP_MILLISECS, (gint64) sleep);
}

static void
add_setting (SpDecision *decision, SpKsmField field, gint64 value)
{
  g_assert (decision->n_settings < SP_DECISION_MAX_SETTINGS);
  decision->settings[decision->n_settings].field = field;
  decision->settings[decision->n_settings].value = value;
  decision->n_settings++;
}

static gboolean
want_advisor (const SpKsmPolicyInput *input)
{
  if (!sp_ksm_state_has_advisor (&input->ksm))
    return FALSE;
  return input->config->scan_rate != SP_SCAN_RATE_CLASSIC;
}

/* Where the boost/decay of this tick starts from. */
static gint64
base_npages (const SpKsmPolicyInput *input, gboolean use_advisor)
{
  /* The advisor steers pages_to_scan itself: keep our own intensity. */
  if (use_advisor)
    return input->previous_npages;
  /* Read back from sysfs, so a change made by another tool is noticed and
   * the policy continues from the real value. */
  if (sp_ksm_state_has (&input->ksm, SP_KSM_PAGES_TO_SCAN))
    return sp_ksm_state_get (&input->ksm, SP_KSM_PAGES_TO_SCAN);
  return input->previous_npages;
}

static gint64
lerp (gint64 from, gint64 to, gint64 num, gint64 den)
{
  if (den <= 0)
    return to;
  return from + ((to - from) * num + (to > from ? den / 2 : -den / 2)) / den;
}

/* The pages per wake-up that scan the guests' committed memory once in
 * scan_time seconds, with ksmd sleeping sleep_millisecs between wake-ups. */
static guint64
pages_per_wakeup (const SpKsmPolicyInput *input, gint64 sleep_millisecs, gint64 scan_time)
{
  guint64 page_kib = input->page_kib != 0 ? input->page_kib : 4;
  /* scan_time is at most 86400 s; a sleep longer than it still wakes ksmd once */
  guint64 wakeups =
      MAX ((guint64) MAX (scan_time, 1) * 1000 / (guint64) MAX (sleep_millisecs, 1), 1);

  return (input->committed_kib / page_kib + wakeups - 1) / wakeups;
}

/*
 * The advisor's warm-up. The kernel's scan-time advisor starts a run at
 * advisor_min_pages_to_scan and, after each full scan, sets pages_to_scan so
 * that the next one lasts advisor_target_scan_time. KSM merges a page only
 * on the second full scan that finds it unchanged, so with guests already
 * running when KSM starts (samepaged started on a busy host, or KSM resumed
 * after a stop), their memory waits for a second scan as long as the target
 * (up to 200 s) at a rate the advisor lowered after one quick first scan:
 * 6 MiB of 545 merged in 90 s where classic steering merged 90 % in 14 s
 * (docs/benchmarks.md, "the advisor's slow start").
 *
 * So a run starts with classic steering, at least at the rate that scans the
 * committed memory once in the target scan time (within the advisor's page
 * cap), and the advisor takes over once KSM has done SP_ADVISOR_WARMUP_SCANS
 * full scans since: what was there at the start has been seen twice, and
 * the advisor only keeps up with changes. A run begins when the previous
 * decision did not run KSM. Without a full_scans file the advisor starts at
 * once (nothing would end the warm-up).
 *
 * The same holds for guests started while the advisor runs: it adapts its
 * rate only at the end of a full scan, so a guest several times the size of
 * those it was sized for waits for a scan at the old rate (an 8 GiB guest
 * on a host tuned to scan 1 GiB in 200 s: about half an hour). So the
 * warm-up starts again when the committed memory grows by more than
 * SP_ADVISOR_WARMUP_GROWTH_PCT over the least it has been since the advisor
 * took over (a guest stopped and started again counts as new memory).
 */
static gboolean
advisor_warming_up (const SpKsmPolicyInput *input, SpDecision *decision)
{
  const SpAdvisorWarmup *previous = &input->previous_warmup;
  SpAdvisorWarmup *warmup = &decision->warmup;
  guint64 least = MIN (previous->committed_kib, input->committed_kib);
  gint64 scans;

  memset (warmup, 0, sizeof (*warmup));
  if (!sp_ksm_state_has (&input->ksm, SP_KSM_FULL_SCANS))
    return FALSE;
  scans = sp_ksm_state_get (&input->ksm, SP_KSM_FULL_SCANS);
  if (input->previous_action != SP_ACTION_RUN)
    warmup->since_scans = scans;
  else if (previous->active)
    warmup->since_scans = previous->since_scans;
  else if (input->committed_kib >
           sp_add_saturating_u64 (least, least / 100 * SP_ADVISOR_WARMUP_GROWTH_PCT))
    warmup->since_scans = scans;
  else
    {
      /* the advisor keeps running */
      warmup->committed_kib = least;
      return FALSE;
    }
  /* full_scans only grows: a smaller count ends the warm-up too */
  warmup->active =
      scans >= warmup->since_scans && scans - warmup->since_scans < SP_ADVISOR_WARMUP_SCANS;
  if (!warmup->active)
    warmup->committed_kib = input->committed_kib; /* the advisor takes over from here */
  return warmup->active;
}

/*
 * The advisor has a blind spot on small hosts (measured in
 * docs/benchmarks.md, section 4): it times full scans in whole seconds, so a
 * scan of a few hundred MiB reads as 1 s for almost no CPU, and it raises
 * pages_to_scan to advisor_max_pages_to_scan, keeping ksmd at half a core
 * once nothing is left to merge. The cap: SP_ADVISOR_PAGES_HEADROOM times
 * the pages per wake-up that scan the guests' committed memory once in the
 * target scan time, and never less than npages, what the classic steering
 * would scan at this pressure (a slower scan than that merged about 6 % less
 * of the same guests: pages written now and then change between its
 * passes). It stays between advisor_min_pages_to_scan and the kernel's
 * default maximum (30000), which large hosts keep (under full pressure, a
 * 30 s target and 10 ms sleeps: from about 86 GiB committed). Without known
 * guests (committed 0) it is the default maximum.
 */
static gint64
advisor_max_pages (const SpKsmPolicyInput *input, gint64 npages, gint64 sleep_millisecs,
                   gint64 target_scan_time)
{
  gint64 floor = SP_ADVISOR_MIN_PAGES_DEFAULT;
  guint64 needed;

  if (sp_ksm_state_has (&input->ksm, SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN))
    floor = sp_ksm_state_get (&input->ksm, SP_KSM_ADVISOR_MIN_PAGES_TO_SCAN);
  floor = CLAMP (floor, 1, SP_ADVISOR_MAX_PAGES_CEILING);
  if (input->committed_kib == 0)
    return SP_ADVISOR_MAX_PAGES_CEILING;
  needed = pages_per_wakeup (input, sleep_millisecs, target_scan_time);
  if (needed >= SP_ADVISOR_MAX_PAGES_CEILING / SP_ADVISOR_PAGES_HEADROOM)
    return SP_ADVISOR_MAX_PAGES_CEILING;
  return CLAMP (MAX ((gint64) needed * SP_ADVISOR_PAGES_HEADROOM, npages), floor,
                SP_ADVISOR_MAX_PAGES_CEILING);
}

/* Fills in the rate of a running KSM and appends the knob settings. */
static void
decide_rate (const SpKsmPolicyInput *input, SpDecision *decision, gboolean pressure,
             gboolean slowest, GString *reason)
{
  const SpConfig *config = input->config;
  gboolean advisor = want_advisor (input);
  gboolean warming = advisor && advisor_warming_up (input, decision);
  gboolean use_advisor = advisor && !warming;
  gint64 base = base_npages (input, use_advisor);
  gint64 delta = pressure ? config->npages_boost : config->npages_decay;
  gint64 npages = CLAMP (base + delta, config->npages_min, config->npages_max);
  const char *how = pressure ? "boost" : "decay";
  gint64 span = config->npages_max - config->npages_min;

  /* the profit guard: the lowest rate, whatever the pressure */
  if (slowest)
    {
      npages = config->npages_min;
      how = "lowest rate";
    }

  /* memory pressure (PSI): the top rate for this decision */
  if (input->pressure != NULL)
    {
      npages = MAX (config->npages_min, config->npages_max);
      how = "pressure boost";
    }

  if (use_advisor || warming)
    {
      gint64 pos = npages - config->npages_min;

      decision->advisor_max_cpu =
          lerp (config->advisor_max_cpu_min, config->advisor_max_cpu_max, pos, span);
      decision->advisor_target_scan_time =
          lerp (config->advisor_scan_time_max, config->advisor_scan_time_min, pos, span);
    }
  /* the warm-up scans the committed memory once in the target scan time,
   * at least, and no faster than the advisor's cap would let it */
  if (warming && !slowest)
    {
      gint64 cap = advisor_max_pages (input, npages, decision->sleep_millisecs,
                                      decision->advisor_target_scan_time);
      guint64 needed =
          pages_per_wakeup (input, decision->sleep_millisecs, decision->advisor_target_scan_time);

      npages = MAX (npages, (gint64) MIN (needed, (guint64) cap));
    }

  decision->npages = npages;
  decision->use_advisor = use_advisor;

  if (use_advisor)
    {
      g_string_append_printf (reason,
                              ", %s: advisor max_cpu %" G_GINT64_FORMAT
                              " %%, target scan time %" G_GINT64_FORMAT " s",
                              how, decision->advisor_max_cpu, decision->advisor_target_scan_time);
      add_setting (decision, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_SCAN_TIME);
      add_setting (decision, SP_KSM_ADVISOR_MAX_CPU, decision->advisor_max_cpu);
      add_setting (decision, SP_KSM_ADVISOR_TARGET_SCAN_TIME, decision->advisor_target_scan_time);
      if (sp_ksm_state_has (&input->ksm, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN))
        {
          decision->advisor_max_pages = advisor_max_pages (input, npages, decision->sleep_millisecs,
                                                           decision->advisor_target_scan_time);
          g_string_append_printf (reason, ", at most %" G_GINT64_FORMAT " pages",
                                  decision->advisor_max_pages);
          add_setting (decision, SP_KSM_ADVISOR_MAX_PAGES_TO_SCAN, decision->advisor_max_pages);
        }
    }
  else
    {
      if (warming)
        g_string_append_printf (
            reason, ", advisor warm-up (%" G_GINT64_FORMAT " of %d full scans done)",
            sp_ksm_state_get (&input->ksm, SP_KSM_FULL_SCANS) - decision->warmup.since_scans,
            SP_ADVISOR_WARMUP_SCANS);
      g_string_append_printf (reason, ", %s to %" G_GINT64_FORMAT " pages", how, npages);
      if (config->scan_rate == SP_SCAN_RATE_ADVISOR && !warming)
        g_string_append (reason, " (this kernel has no KSM advisor)");
      /* pages_to_scan is rejected with EINVAL while the advisor runs */
      if (sp_ksm_state_has_advisor (&input->ksm))
        add_setting (decision, SP_KSM_ADVISOR_MODE, SP_KSM_ADVISOR_NONE);
      add_setting (decision, SP_KSM_PAGES_TO_SCAN, npages);
    }
  add_setting (decision, SP_KSM_SLEEP_MILLISECS, decision->sleep_millisecs);
  /* use_zero_pages = -1 leaves the kernel's setting, and so does a kernel without it */
  if (config->use_zero_pages >= 0 && sp_ksm_state_has (&input->ksm, SP_KSM_USE_ZERO_PAGES))
    add_setting (decision, SP_KSM_USE_ZERO_PAGES, config->use_zero_pages);
  add_setting (decision, SP_KSM_RUN, SP_KSM_RUN_MERGE);
}

/* The profit guard's verdict; its new state goes into decision->guard. */
static SpProfitVerdict
guard (const SpKsmPolicyInput *input, SpDecision *decision, gboolean wants_run, GString *reason)
{
  SpProfitGuardInput guard_input = {
    .config = input->config,
    .previous = input->previous_guard,
    .wants_run = wants_run,
    .cost = input->cost,
    .committed_kib = input->committed_kib,
    .now_us = input->now_us,
  };

  if (input->cost == NULL)
    {
      memset (&decision->guard, 0, sizeof (decision->guard));
      return SP_PROFIT_VERDICT_RUN;
    }
  return sp_profit_guard_decide (&guard_input, &decision->guard, reason);
}

void
sp_ksm_policy_decide (const SpKsmPolicyInput *input, SpDecision *decision)
{
  const SpConfig *config = input->config;
  g_autoptr (GString) reason = g_string_new (NULL);
  g_autofree char *total_s = NULL;
  g_autofree char *free_s = NULL;
  g_autofree char *committed_s = NULL;
  g_autofree char *thres_s = NULL;
  const char *free_name;
  g_autoptr (GString) guard_reason = g_string_new (NULL);
  SpProfitVerdict verdict;
  guint64 margin_kib;
  gboolean pressure;
  gboolean stop;

  memset (decision, 0, sizeof (*decision));
  decision->total_kib = input->mem.total_kib;
  decision->free_kib = sp_meminfo_free_kib (&input->mem, config->free_source);
  decision->committed_kib = input->committed_kib;
  decision->threshold_kib = sp_ksm_policy_threshold_kib (config, input->mem.total_kib);
  decision->sleep_millisecs = sp_ksm_policy_sleep_millisecs (config, input->mem.total_kib);
  decision->npages = input->previous_npages;

  if (!input->ksm.available)
    {
      decision->action = SP_ACTION_NONE;
      decision->reason = g_strdup ("none: KSM is not available on this kernel");
      return;
    }
  if (input->mem.total_kib == 0)
    {
      decision->action = SP_ACTION_NONE;
      decision->reason = g_strdup ("none: no memory information");
      return;
    }

  total_s = sp_format_kib (decision->total_kib);
  free_s = sp_format_kib (decision->free_kib);
  committed_s = sp_format_kib (decision->committed_kib);
  thres_s = sp_format_kib (decision->threshold_kib);
  free_name = config->free_source == SP_FREE_SOURCE_KSMTUNED ? "free"
              : input->mem.has_arc                           ? "available+arc"
                                                             : "available";
  pressure = decision->free_kib < decision->threshold_kib;

  switch (config->mode)
    {
    case SP_MODE_NEVER:
      decision->action = SP_ACTION_STOP;
      decision->reason = g_strdup ("stop: mode is never");
      add_setting (decision, SP_KSM_RUN, SP_KSM_RUN_STOP);
      return;

    case SP_MODE_ALWAYS:
      decision->action = SP_ACTION_RUN;
      g_string_append_printf (reason, "run: mode is always, %s%s%s %s %s threshold %s",
                              input->pressure ? input->pressure : "", input->pressure ? ", " : "",
                              free_name, free_s, pressure ? "<" : ">=", thres_s);
      decide_rate (input, decision, pressure, FALSE, reason);
      decision->reason = g_string_free (g_steal_pointer (&reason), FALSE);
      return;

    case SP_MODE_AUTO:
    default:
      break;
    }

  /* ksmtuned stops when committed + thres < total and free > thres. Once
   * KSM runs, samepaged asks for the same with a margin, so a host that
   * hovers at the threshold does not flap. */
  margin_kib = input->previous_action == SP_ACTION_RUN
                   ? decision->threshold_kib / 100 * (guint64) config->hysteresis_pct
                   : 0;
  /* committed comes from libvirt: saturating sums, never wrapped ones */
  stop = sp_add_saturating_u64 (
             sp_add_saturating_u64 (decision->committed_kib, decision->threshold_kib), margin_kib) <
             decision->total_kib &&
         decision->free_kib > sp_add_saturating_u64 (decision->threshold_kib, margin_kib);

  verdict = guard (input, decision, !stop || input->pressure != NULL, guard_reason);
  /* memory pressure (PSI) is news the guard's past scans do not know: it
   * overrides the guard's stop, and the guard starts watching afresh */
  if (verdict == SP_PROFIT_VERDICT_STOP && input->pressure != NULL)
    {
      memset (&decision->guard, 0, sizeof (decision->guard));
      g_string_truncate (guard_reason, 0);
      verdict = SP_PROFIT_VERDICT_RUN;
    }
  if (verdict == SP_PROFIT_VERDICT_STOP)
    {
      decision->action = SP_ACTION_STOP;
      decision->reason = g_strdup_printf ("stop: %s", guard_reason->str);
      add_setting (decision, SP_KSM_RUN,
                   config->profit_guard_unmerge ? SP_KSM_RUN_UNMERGE : SP_KSM_RUN_STOP);
      return;
    }
  /* the kernel saw tasks stall on memory (PSI): merge, whatever the threshold says */
  if (stop && input->pressure == NULL)
    {
      decision->action = SP_ACTION_STOP;
      decision->reason = g_strdup_printf ("stop: committed %s + threshold %s < total %s and "
                                          "%s %s > threshold",
                                          committed_s, thres_s, total_s, free_name, free_s);
      add_setting (decision, SP_KSM_RUN, SP_KSM_RUN_STOP);
      return;
    }

  decision->action = SP_ACTION_RUN;
  if (input->pressure != NULL)
    g_string_append_printf (reason, "run: %s, %s %s, threshold %s", input->pressure, free_name,
                            free_s, thres_s);
  else if (pressure)
    g_string_append_printf (reason, "run: %s %s < threshold %s", free_name, free_s, thres_s);
  else if (sp_add_saturating_u64 (decision->committed_kib, decision->threshold_kib) >=
           decision->total_kib)
    g_string_append_printf (reason, "run: committed %s + threshold %s >= total %s", committed_s,
                            thres_s, total_s);
  else
    {
      g_autofree char *margin_s = sp_format_kib (margin_kib);
      g_string_append_printf (reason,
                              "run: within the hysteresis band (%s above "
                              "threshold %s), committed %s, %s %s",
                              margin_s, thres_s, committed_s, free_name, free_s);
    }
  if (guard_reason->len > 0)
    g_string_append_printf (reason, ", %s", guard_reason->str);
  decide_rate (input, decision, pressure, verdict == SP_PROFIT_VERDICT_SLOW, reason);
  decision->reason = g_string_free (g_steal_pointer (&reason), FALSE);
}

struct _SpKsmPolicy {
  GObject parent_instance;

  guint64 page_kib; /* the base page size KSM merges */
};

static void sp_ksm_policy_iface_init (SpPolicyInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SpKsmPolicy, sp_ksm_policy, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_POLICY, sp_ksm_policy_iface_init))

static void
sp_ksm_policy_class_init (SpKsmPolicyClass *klass)
{
}

static void
sp_ksm_policy_init (SpKsmPolicy *self)
{
}

SpPolicy *
sp_ksm_policy_new (void)
{
  SpKsmPolicy *self = g_object_new (SP_TYPE_KSM_POLICY, NULL);

  self->page_kib = sp_page_size_kib ();
  return SP_POLICY (self);
}

static const char *
ksm_policy_get_name (SpPolicy *policy)
{
  return "ksm";
}

static void
ksm_policy_decide (SpPolicy *policy, const SpSnapshot *previous, SpSnapshot *next)
{
  SpKsmPolicy *self = SP_KSM_POLICY (policy);
  SpKsmPolicyInput input = {
    .config = next->config,
    .mem = next->mem,
    .committed_kib = next->guests != NULL ? next->guests->committed_kib : 0,
    .ksm = next->ksm,
    .previous_action = previous->decision.action,
    .previous_npages = previous->decision.npages,
    .page_kib = self->page_kib,
    .pressure = next->pressure,
    .previous_guard = previous->decision.guard,
    .previous_warmup = previous->decision.warmup,
    .cost = &next->cost,
    .now_us = next->cost.time_us,
  };

  sp_decision_clear (&next->decision);
  sp_ksm_policy_decide (&input, &next->decision);
}

/* KSM should start or stop: the boost and decay of the rate keep the tick's pace. */
static const char *
ksm_policy_urgent_reason (SpPolicy *policy, const SpSnapshot *previous, const SpSnapshot *next)
{
  if (previous->decision.action == SP_ACTION_NONE || !previous->ksm.available)
    return NULL;
  return next->decision.action != previous->decision.action ? next->decision.reason : NULL;
}

static void
sp_ksm_policy_iface_init (SpPolicyInterface *iface)
{
  iface->get_name = ksm_policy_get_name;
  iface->decide = ksm_policy_decide;
  iface->urgent_reason = ksm_policy_urgent_reason;
}
