/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-balloon"

#include "sp-balloon-policy.h"

#include "sp-balloon-xml.h"
#include "sp-str.h"

/* Statistics older than this many periods count as missing. */
#define SP_BALLOON_STALE_PERIODS 3

/* A balloon within this much of its target has reached it: 1 % of
 * <memory>, at least 1 MiB (the guest frees pages, not bytes). */
#define SP_BALLOON_REACHED_MIN_KIB 1024

/* a * pct / 100 without overflow for any guint64 a and pct <= 100 */
static guint64
percent_of (guint64 a, gint64 pct)
{
  return a / 100 * (guint64) pct + a % 100 * (guint64) pct / 100;
}

guint64
sp_balloon_policy_min_kib (const SpConfig *config, const SpDomainInfo *info)
{
  if (info->balloon.has_min)
    return info->balloon.min_kib;
  return percent_of (info->balloon.memory_kib, config->balloon_min_pct);
}

guint64
sp_balloon_policy_shares (const SpConfig *config, const SpDomainInfo *info)
{
  if (info->balloon.has_shares && info->balloon.shares > 0)
    return info->balloon.shares;
  return (guint64) MAX (config->balloon_shares, 1);
}

static gboolean
reached (const SpDomainInfo *info, guint64 target_kib)
{
  guint64 slack = MAX (SP_BALLOON_REACHED_MIN_KIB, info->balloon.memory_kib / 100);
  guint64 diff = info->current_kib > target_kib ? info->current_kib - target_kib
                                                : target_kib - info->current_kib;

  return diff <= slack;
}

/* Why the guest's statistics cannot be used, or NULL. */
static char *
stats_problem (const SpBalloonPolicyInput *input, const SpDomainInfo *info)
{
  const SpBalloonInfo *b = &info->balloon;
  gint64 age;

  if (!b->has_usable && !b->has_unused)
    {
      if (b->stats_period_sec == 0)
        return g_strdup ("no guest statistics (stats period 0)");
      return g_strdup ("no guest statistics");
    }
  if (b->last_update_sec <= 0)
    return g_strdup ("no guest statistics (never updated)");
  age = input->now_sec - b->last_update_sec;
  if (b->stats_period_sec == 0)
    return g_strdup ("guest statistics stale (stats period 0)");
  if (age > (gint64) b->stats_period_sec * SP_BALLOON_STALE_PERIODS)
    return g_strdup_printf ("guest statistics stale (%" G_GINT64_FORMAT
                            " s old, period %" G_GUINT64_FORMAT " s)",
                            age, b->stats_period_sec);
  return NULL;
}

typedef struct {
  SpBalloonTarget *target;
  const SpDomainInfo *info;
  guint64 excess_kib;  /* current - floor, pressure candidates */
  guint64 missing_kib; /* config current - current, to grow */
} Candidate;

static gint
compare_by_weighted_excess (gconstpointer a, gconstpointer b)
{
  const Candidate *ca = a;
  const Candidate *cb = b;
  /* excess / shares, compared as excess_a * shares_b vs excess_b * shares_a
   * in long double to stay exact enough without overflow */
  long double wa = (long double) ca->excess_kib * (long double) cb->target->shares;
  long double wb = (long double) cb->excess_kib * (long double) ca->target->shares;

  if (wa != wb)
    return wa > wb ? -1 : 1;
  return g_strcmp0 (ca->target->name, cb->target->name);
}

static gint
compare_by_shares (gconstpointer a, gconstpointer b)
{
  const Candidate *ca = a;
  const Candidate *cb = b;

  if (ca->target->shares != cb->target->shares)
    return ca->target->shares > cb->target->shares ? -1 : 1;
  return g_strcmp0 (ca->target->name, cb->target->name);
}

static void
set_reason (SpBalloonTarget *target, char *reason)
{
  g_free (target->reason);
  target->reason = reason;
}

static void
hold (SpBalloonTarget *target, char *reason)
{
  target->action = SP_BALLOON_ACTION_HOLD;
  target->target_kib = target->current_kib;
  set_reason (target, reason);
}

/* A managed domain's target before the host's state is looked at. */
static SpBalloonTarget *
target_new (const SpBalloonPolicyInput *input, const SpDomainInfo *info)
{
  const SpConfig *config = input->config;
  SpBalloonTarget *target = g_new0 (SpBalloonTarget, 1);

  target->name = g_strdup (info->name);
  target->uuid = g_strdup (info->uuid);
  target->current_kib = info->current_kib;
  target->target_kib = info->current_kib;
  target->min_kib = sp_balloon_policy_min_kib (config, info);
  target->shares = sp_balloon_policy_shares (config, info);
  target->floor_kib = target->min_kib;
  target->action = SP_BALLOON_ACTION_NONE;

  if (config->balloon != SP_BALLOON_MODE_AUTO)
    target->reason = g_strdup ("balloon off");
  else if (info->balloon.model == NULL)
    target->reason = g_strdup ("no memballoon device");
  else if (!sp_balloon_xml_model_has_driver (info->balloon.model))
    target->reason = g_strdup_printf ("memballoon model '%s'", info->balloon.model);
  else if (!info->balloon.managed)
    target->reason = g_strdup ("opted out");
  else if (!info->balloon.has_current)
    target->reason = g_strdup ("no balloon.current from libvirt");
  else
    target->managed = TRUE;
  return target;
}

SpBalloonDecision *
sp_balloon_policy_decide (const SpBalloonPolicyInput *input)
{
  const SpConfig *config = input->config;
  g_autoptr (SpBalloonDecision) decision = sp_balloon_decision_new ();
  g_autoptr (GArray) shrink = g_array_new (FALSE, TRUE, sizeof (Candidate));
  g_autoptr (GArray) grow = g_array_new (FALSE, TRUE, sizeof (Candidate));
  guint64 total_kib = input->mem.total_kib;
  g_autofree char *available = NULL;
  g_autofree char *threshold = NULL;

  decision->mode = config->balloon;
  decision->available_kib = input->mem.available_kib;
  decision->threshold_kib = percent_of (total_kib, config->balloon_threshold_pct);
  decision->critical_kib = percent_of (total_kib, config->balloon_critical_pct);
  decision->pressure = total_kib > 0 && decision->available_kib < decision->threshold_kib;
  decision->critical = total_kib > 0 && decision->available_kib < decision->critical_kib;
  available = sp_format_kib (decision->available_kib);
  threshold = sp_format_kib (decision->threshold_kib);
  if (config->balloon != SP_BALLOON_MODE_AUTO)
    decision->reason = g_strdup ("balloon off");
  else
    decision->reason = g_strdup_printf ("%s: available %s %s threshold %s",
                                        decision->critical   ? "critical pressure"
                                        : decision->pressure ? "pressure"
                                                             : "no pressure",
                                        available, decision->pressure ? "<" : ">=", threshold);

  for (guint i = 0; input->guests != NULL && i < input->guests->domains->len; i++)
    {
      const SpDomainInfo *info = g_ptr_array_index (input->guests->domains, i);
      const SpBalloonTarget *before;
      SpBalloonTarget *target;
      g_autofree char *problem = NULL;
      const SpBalloonInfo *b = &info->balloon;
      guint64 guest_total_kib = 0;
      guint64 used_kib = 0;

      if (!info->active)
        continue;
      target = target_new (input, info);
      g_ptr_array_add (decision->targets, target);
      if (!target->managed)
        continue;
      decision->n_managed++;
      if (b->config_current_kib > info->current_kib)
        decision->reclaimed_kib = sp_add_saturating_u64 (decision->reclaimed_kib,
                                                         b->config_current_kib - info->current_kib);

      /* a target that was not reached in time: alone until the host's state changes */
      before = sp_balloon_decision_find (input->previous, info->uuid);
      if (before != NULL && before->timed_out && input->previous->pressure == decision->pressure)
        {
          g_autofree char *goal = sp_format_kib (before->target_kib);

          target->timed_out = TRUE;
          target->action = SP_BALLOON_ACTION_NONE;
          set_reason (target, g_strdup_printf ("left alone: did not reach %s in time", goal));
          continue;
        }

      problem = stats_problem (input, info);
      target->stats_ok = problem == NULL;
      if (target->stats_ok)
        {
          target->guest_free_kib = b->has_usable ? b->usable_kib : b->unused_kib;
          guest_total_kib = b->has_available ? b->available_kib : info->current_kib;
          used_kib = guest_total_kib > target->guest_free_kib
                         ? guest_total_kib - target->guest_free_kib
                         : 0;
          /* keeps guest_free_percent of its new size free (at most 90 %) */
          target->floor_kib =
              MAX (target->min_kib, used_kib / (guint64) (100 - config->guest_free_pct) * 100 +
                                        used_kib % (guint64) (100 - config->guest_free_pct) * 100 /
                                            (guint64) (100 - config->guest_free_pct));
        }

      if (decision->pressure)
        {
          Candidate c = { target, info, 0, 0 };

          if (!target->stats_ok)
            hold (target, g_strdup_printf ("never shrunk: %s", problem));
          else if (target->guest_free_kib <= percent_of (guest_total_kib, config->guest_free_pct))
            {
              g_autofree char *free_text = sp_format_kib (target->guest_free_kib);
              hold (target, g_strdup_printf (
                                "keeps its free memory (%s free, at most %" G_GINT64_FORMAT " %%)",
                                free_text, config->guest_free_pct));
            }
          else if (info->current_kib <= target->floor_kib)
            {
              g_autofree char *floor_text = sp_format_kib (target->floor_kib);
              hold (target, g_strdup_printf ("at its floor %s", floor_text));
            }
          else
            {
              c.excess_kib = info->current_kib - target->floor_kib;
              g_array_append_val (shrink, c);
            }
        }
      else if (info->current_kib < b->config_current_kib)
        {
          Candidate c = { target, info, 0, b->config_current_kib - info->current_kib };
          g_array_append_val (grow, c);
        }
      else
        hold (target, g_strdup ("at <currentMemory>"));
    }

  if (decision->pressure)
    {
      guint64 need_kib = decision->threshold_kib - decision->available_kib;
      gint64 step_pct = decision->critical ? config->critical_step_pct : config->max_step_pct;

      g_array_sort (shrink, compare_by_weighted_excess);
      for (guint i = 0; i < shrink->len; i++)
        {
          Candidate *c = &g_array_index (shrink, Candidate, i);
          SpBalloonTarget *target = c->target;
          const SpBalloonTarget *before = sp_balloon_decision_find (input->previous, target->uuid);
          guint64 step_kib = MAX (percent_of (c->info->balloon.memory_kib, step_pct), 1);
          guint64 amount_kib = MIN (step_kib, c->excess_kib);
          g_autofree char *goal = NULL;

          if (need_kib == 0)
            {
              hold (target, g_strdup ("enough reclaimed from guests with more free memory"));
              continue;
            }
          /* a shrink in progress is waited for, not stepped further */
          if (before != NULL && before->action == SP_BALLOON_ACTION_SHRINK &&
              before->target_kib < target->current_kib && before->target_kib >= target->floor_kib &&
              !reached (c->info, before->target_kib))
            {
              target->action = SP_BALLOON_ACTION_SHRINK;
              target->target_kib = before->target_kib;
              goal = sp_format_kib (target->target_kib);
              set_reason (target, g_strdup_printf ("shrinking to %s", goal));
              need_kib -= MIN (need_kib, target->current_kib - target->target_kib);
              continue;
            }
          target->action = SP_BALLOON_ACTION_SHRINK;
          target->target_kib = target->current_kib - amount_kib;
          goal = sp_format_kib (target->target_kib);
          set_reason (target, g_strdup_printf (
                                  "%s: shrink to %s",
                                  decision->critical ? "critical pressure" : "pressure", goal));
          need_kib -= MIN (need_kib, amount_kib);
        }
    }
  else
    {
      guint64 room_kib =
          decision->available_kib - MIN (decision->available_kib, decision->threshold_kib);

      g_array_sort (grow, compare_by_shares);
      for (guint i = 0; i < grow->len; i++)
        {
          Candidate *c = &g_array_index (grow, Candidate, i);
          SpBalloonTarget *target = c->target;
          const SpBalloonTarget *before = sp_balloon_decision_find (input->previous, target->uuid);
          guint64 step_kib =
              MAX (percent_of (c->info->balloon.memory_kib, config->max_step_pct), 1);
          guint64 amount_kib = MIN (step_kib, c->missing_kib);
          g_autofree char *goal = NULL;

          if (before != NULL && before->action == SP_BALLOON_ACTION_GROW &&
              before->target_kib > target->current_kib &&
              before->target_kib <= c->info->balloon.config_current_kib &&
              !reached (c->info, before->target_kib))
            {
              target->action = SP_BALLOON_ACTION_GROW;
              target->target_kib = before->target_kib;
              goal = sp_format_kib (target->target_kib);
              set_reason (target, g_strdup_printf ("growing to %s", goal));
              room_kib -= MIN (room_kib, target->target_kib - target->current_kib);
              continue;
            }
          if (amount_kib > room_kib)
            {
              hold (target, g_strdup ("shrunk; the host is too near the threshold to grow it"));
              continue;
            }
          target->action = SP_BALLOON_ACTION_GROW;
          target->target_kib = target->current_kib + amount_kib;
          goal = sp_format_kib (target->target_kib);
          set_reason (target, g_strdup_printf ("no pressure: grow to %s", goal));
          room_kib -= amount_kib;
        }
    }
  return g_steal_pointer (&decision);
}

struct _SpBalloonPolicy {
  GObject parent_instance;
};

static void sp_balloon_policy_iface_init (SpPolicyInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SpBalloonPolicy, sp_balloon_policy, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_POLICY, sp_balloon_policy_iface_init))

static void
sp_balloon_policy_class_init (SpBalloonPolicyClass *klass)
{
}

static void
sp_balloon_policy_init (SpBalloonPolicy *self)
{
}

SpPolicy *
sp_balloon_policy_new (void)
{
  return SP_POLICY (g_object_new (SP_TYPE_BALLOON_POLICY, NULL));
}

static const char *
balloon_policy_get_name (SpPolicy *policy)
{
  return "balloon";
}

static void
balloon_policy_decide (SpPolicy *policy, const SpSnapshot *previous, SpSnapshot *next)
{
  SpBalloonPolicyInput input = {
    .config = next->config,
    .mem = next->mem,
    .guests = next->guests,
    .now_sec = next->time_us / G_USEC_PER_SEC,
    .previous = previous->balloon,
  };

  g_clear_pointer (&next->balloon, sp_balloon_decision_free);
  next->balloon = sp_balloon_policy_decide (&input);
}

/* Entering or leaving pressure cannot wait for the next tick: the guests
 * start giving memory back, or get it back, at once. */
static const char *
balloon_policy_urgent_reason (SpPolicy *policy, const SpSnapshot *previous, const SpSnapshot *next)
{
  if (next->balloon == NULL || next->balloon->mode != SP_BALLOON_MODE_AUTO ||
      next->balloon->n_managed == 0)
    return NULL;
  if (previous->balloon != NULL && previous->balloon->mode == next->balloon->mode &&
      previous->balloon->pressure == next->balloon->pressure &&
      previous->balloon->critical == next->balloon->critical)
    return NULL;
  return next->balloon->reason;
}

static void
sp_balloon_policy_iface_init (SpPolicyInterface *iface)
{
  iface->get_name = balloon_policy_get_name;
  iface->decide = balloon_policy_decide;
  iface->urgent_reason = balloon_policy_urgent_reason;
}
