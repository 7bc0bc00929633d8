/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-policy"

#include "sp-profit-guard.h"

#include "sp-str.h"

/* "30 min", "45 s", "2 h" */
static char *
format_seconds (gint64 seconds)
{
  seconds = MAX (seconds, 0);
  if (seconds >= 3600 && seconds % 3600 == 0)
    return g_strdup_printf ("%" G_GINT64_FORMAT " h", seconds / 3600);
  if (seconds >= 60)
    return g_strdup_printf ("%" G_GINT64_FORMAT " min", (seconds + 30) / 60);
  return g_strdup_printf ("%" G_GINT64_FORMAT " s", seconds);
}

/* TRUE when KSM does not pay; why says how. */
static gboolean
not_paying (const SpProfitGuardInput *input, GString *why)
{
  const SpKsmCost *cost = input->cost;
  gint64 min_rate = input->config->profit_min_kib_per_cpu_s;

  if (cost->has_general_profit && cost->general_profit <= 0)
    {
      g_autofree char *profit = sp_format_kib (cost->general_profit / 1024);

      g_string_append_printf (why, "general profit %s <= 0", profit);
      return TRUE;
    }
  if (min_rate > 0 && cost->saved_kib_per_cpu_second >= 0 &&
      cost->saved_kib_per_cpu_second < (double) min_rate)
    {
      g_autofree char *rate = sp_format_kib ((gint64) cost->saved_kib_per_cpu_second);
      g_autofree char *min_s = sp_format_kib (min_rate);

      g_string_append_printf (why, "saved %s per CPU-second < %s", rate, min_s);
      return TRUE;
    }
  return FALSE;
}

static void
enter (SpProfitGuard *next, SpProfitGuardPhase phase, const SpProfitGuardInput *input)
{
  next->phase = phase;
  next->since_scans = input->cost->full_scans;
  next->since_us = input->now_us;
  next->committed_kib = input->committed_kib;
}

/* "committed changed from X to Y" when the committed memory moved by more
 * than profit_retry_committed_change % from base, else NULL. */
static char *
committed_change (const SpProfitGuardInput *input, guint64 base)
{
  guint64 now = input->committed_kib;
  guint64 change = now > base ? now - base : base - now;
  g_autofree char *from = NULL;
  g_autofree char *to = NULL;

  /* change * 100 > pct * base, without overflow for any real size */
  if (change == 0 ||
      (base != 0 && (double) change * 100.0 <=
                        (double) input->config->profit_retry_committed_pct * (double) base))
    return NULL;
  from = sp_format_kib ((gint64) MIN (base, (guint64) G_MAXINT64));
  to = sp_format_kib ((gint64) MIN (now, (guint64) G_MAXINT64));
  return g_strdup_printf ("committed changed from %s to %s", from, to);
}

/* Why a stopped KSM is tried again, or NULL. */
static char *
retry_reason (const SpProfitGuardInput *input)
{
  const SpProfitGuard *previous = &input->previous;
  gint64 elapsed_s = (input->now_us - previous->since_us) / G_USEC_PER_SEC;
  char *change = committed_change (input, previous->committed_kib);

  if (change != NULL)
    return change;
  if (elapsed_s >= input->config->profit_retry_interval_sec)
    {
      g_autofree char *interval = format_seconds (input->config->profit_retry_interval_sec);

      return g_strdup_printf ("stopped for %s", interval);
    }
  return NULL;
}

static void
append_retry_terms (const SpProfitGuardInput *input, gint64 since_us, GString *reason)
{
  g_autofree char *left = format_seconds (input->config->profit_retry_interval_sec -
                                          (input->now_us - since_us) / G_USEC_PER_SEC);

  g_string_append_printf (
      reason, "; retry when committed memory changes by more than %" G_GINT64_FORMAT " %% or in %s",
      input->config->profit_retry_committed_pct, left);
}

SpProfitVerdict
sp_profit_guard_decide (const SpProfitGuardInput *input, SpProfitGuard *next, GString *reason)
{
  const SpConfig *config = input->config;
  const SpProfitGuard *previous = &input->previous;
  g_autoptr (GString) why = g_string_new (NULL);
  gint64 scans = input->cost->full_scans;
  g_autofree char *retry = NULL;

  *next = *previous;
  if (!config->profit_guard || scans < 0)
    {
      memset (next, 0, sizeof (*next));
      return SP_PROFIT_VERDICT_RUN;
    }
  if (!input->wants_run)
    {
      /* a stop for lack of profit outlasts a stop for plenty of memory */
      if (previous->phase != SP_PROFIT_GUARD_STOPPED)
        memset (next, 0, sizeof (*next));
      return SP_PROFIT_VERDICT_RUN;
    }
  /* a counter that went back (a reboot cannot, a fake tree can): start over */
  if (previous->phase != SP_PROFIT_GUARD_OFF && previous->phase != SP_PROFIT_GUARD_STOPPED &&
      scans < previous->since_scans)
    {
      enter (next, SP_PROFIT_GUARD_WATCHING, input);
      return SP_PROFIT_VERDICT_RUN;
    }

  /* guests starting, stopping or filling their memory: the scans so far
   * judged another host; watch afresh from here */
  if (previous->phase == SP_PROFIT_GUARD_WATCHING || previous->phase == SP_PROFIT_GUARD_SLOWED)
    {
      g_autofree char *change = committed_change (input, previous->committed_kib);

      if (change != NULL)
        {
          enter (next, SP_PROFIT_GUARD_WATCHING, input);
          if (previous->phase == SP_PROFIT_GUARD_SLOWED)
            g_string_append_printf (reason, "profit guard: watching afresh (%s)", change);
          return SP_PROFIT_VERDICT_RUN;
        }
    }

  switch (previous->phase)
    {
    case SP_PROFIT_GUARD_OFF:
      enter (next, SP_PROFIT_GUARD_WATCHING, input);
      return SP_PROFIT_VERDICT_RUN;

    case SP_PROFIT_GUARD_WATCHING:
      if (scans - previous->since_scans < config->profit_min_scans || !not_paying (input, why))
        return SP_PROFIT_VERDICT_RUN;
      enter (next, SP_PROFIT_GUARD_SLOWED, input);
      g_string_append_printf (reason, "profit guard: %s after %" G_GINT64_FORMAT " full scans",
                              why->str, scans - previous->since_scans);
      return SP_PROFIT_VERDICT_SLOW;

    case SP_PROFIT_GUARD_SLOWED:
      if (!not_paying (input, why))
        {
          enter (next, SP_PROFIT_GUARD_WATCHING, input);
          g_string_append (reason, "profit guard: KSM pays again");
          return SP_PROFIT_VERDICT_RUN;
        }
      if (scans - previous->since_scans < config->profit_min_scans)
        {
          g_string_append_printf (reason,
                                  "profit guard: %s (%" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                                  " full scans at the lowest rate)",
                                  why->str, scans - previous->since_scans,
                                  config->profit_min_scans);
          return SP_PROFIT_VERDICT_SLOW;
        }
      enter (next, SP_PROFIT_GUARD_STOPPED, input);
      g_string_append_printf (reason,
                              "profit guard: %s after %" G_GINT64_FORMAT
                              " more full scans at the lowest scan rate, %s",
                              why->str, scans - previous->since_scans,
                              config->profit_guard_unmerge ? "merged pages split (run=2)"
                                                           : "merged pages kept (run=0)");
      append_retry_terms (input, input->now_us, reason);
      return SP_PROFIT_VERDICT_STOP;

    case SP_PROFIT_GUARD_STOPPED:
    default:
      retry = retry_reason (input);
      if (retry != NULL)
        {
          enter (next, SP_PROFIT_GUARD_WATCHING, input);
          g_string_append_printf (reason, "profit guard: trying KSM again (%s)", retry);
          return SP_PROFIT_VERDICT_RUN;
        }
      g_string_append (reason, "profit guard: KSM did not pay");
      append_retry_terms (input, previous->since_us, reason);
      return SP_PROFIT_VERDICT_STOP;
    }
}
