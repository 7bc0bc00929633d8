/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-tuner"

#include "sp-tuner.h"

#include <unistd.h>

#include "sp-io.h"
#include "sp-knobs.h"
#include "sp-log.h"
#include "sp-policy.h"

struct _SpTuner {
  GObject parent_instance;

  SpConfig *config;
  char *sysfs_root;
  char *procfs_root;
  gboolean dry_run;
  guint64 page_kib; /* the base page size, for the policy */

  SpKnobs *knobs;
  SpGuests *guests;
  SpSnapshot *snapshot;
  guint64 n_decisions;

  guint tick_id;
  guint watch_id;
  guint queued_id;
  gboolean started;

  /* what the last decision asked for, to notice changes made by others */
  SpDecision applied;
  gboolean applied_valid;

  SpLogOnce ksm_problem;
  SpLogOnce mem_problem;
  SpLogOnce write_problem;
  SpLogOnce outside_change;
};

enum {
  SIGNAL_TUNED,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpTuner, sp_tuner, G_TYPE_OBJECT)

static void
sp_tuner_dispose (GObject *object)
{
  SpTuner *self = SP_TUNER (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->watch_id, g_source_remove);
  g_clear_handle_id (&self->queued_id, g_source_remove);
  g_clear_object (&self->knobs);
  G_OBJECT_CLASS (sp_tuner_parent_class)->dispose (object);
}

static void
sp_tuner_finalize (GObject *object)
{
  SpTuner *self = SP_TUNER (object);

  sp_config_free (self->config);
  g_free (self->sysfs_root);
  g_free (self->procfs_root);
  g_clear_pointer (&self->guests, sp_guests_unref);
  g_clear_pointer (&self->snapshot, sp_snapshot_unref);
  sp_decision_clear (&self->applied);
  sp_log_once_reset (&self->ksm_problem);
  sp_log_once_reset (&self->mem_problem);
  sp_log_once_reset (&self->write_problem);
  sp_log_once_reset (&self->outside_change);
  G_OBJECT_CLASS (sp_tuner_parent_class)->finalize (object);
}

static void
sp_tuner_class_init (SpTunerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_tuner_dispose;
  object_class->finalize = sp_tuner_finalize;

  /**
   * SpTuner::tuned:
   * @snapshot: (type gpointer): the new SpSnapshot
   *
   * Emitted after each decision, with the snapshot it produced.
   */
  signals[SIGNAL_TUNED] = g_signal_new ("tuned", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
}

static void
sp_tuner_init (SpTuner *self)
{
  self->page_kib = sp_page_size_kib ();
  self->guests = sp_guests_new ();
  self->snapshot = sp_snapshot_new ();
  self->snapshot->guests = sp_guests_ref (self->guests);
}

SpTuner *
sp_tuner_new (const SpConfig *config, const char *sysfs_root, const char *procfs_root,
              gboolean dry_run)
{
  SpTuner *self = g_object_new (SP_TYPE_TUNER, NULL);

  self->config = sp_config_copy (config);
  self->sysfs_root = g_strdup (sysfs_root);
  self->procfs_root = g_strdup (procfs_root);
  self->dry_run = dry_run;
  self->knobs = sp_knobs_new (sysfs_root, dry_run);
  self->snapshot->config = sp_config_copy (config);
  self->snapshot->dry_run = dry_run;
  return self;
}

/* Logs knobs that differ from what samepaged last wrote: someone else
 * changed them. The policy continues from the real value. */
static void
notice_outside_changes (SpTuner *self, const SpKsmState *ksm)
{
  g_autoptr (GString) changes = g_string_new (NULL);

  if (!self->applied_valid || self->dry_run)
    return;

  for (guint i = 0; i < self->applied.n_settings; i++)
    {
      const SpKnobSetting *s = &self->applied.settings[i];

      if (!sp_ksm_state_has (ksm, s->field) || sp_ksm_state_get (ksm, s->field) == s->value)
        continue;
      /* the advisor owns pages_to_scan while it runs */
      if (s->field == SP_KSM_PAGES_TO_SCAN && sp_ksm_state_get (ksm, SP_KSM_ADVISOR_MODE) != 0)
        continue;
      g_string_append_printf (changes, "%s%s %" G_GINT64_FORMAT " → %" G_GINT64_FORMAT,
                              changes->len ? ", " : "", sp_ksm_field_name (s->field), s->value,
                              sp_ksm_state_get (ksm, s->field));
    }

  if (changes->len == 0)
    {
      sp_log_once_reset (&self->outside_change);
      return;
    }
  if (sp_log_once_changed (&self->outside_change, changes->str))
    g_warning ("KSM knobs were changed outside samepaged (%s); continuing from the real values",
               changes->str);
}

static gboolean
read_inputs (SpTuner *self, SpKsmState *ksm, SpMeminfo *mem)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *ksm_dir = sp_ksm_dir (self->sysfs_root);

  if (!sp_ksm_read (self->sysfs_root, ksm, &error))
    {
      if (sp_log_once_changed (&self->ksm_problem, error->message))
        g_warning ("Cannot read KSM state, not tuning: %s", error->message);
      return FALSE;
    }
  if (!ksm->available)
    {
      if (sp_log_once_changed (&self->ksm_problem, "absent"))
        g_message ("KSM is not available: %s does not exist (kernel built without "
                   "CONFIG_KSM?); samepaged idles until it appears",
                   ksm_dir);
    }
  else if (sp_log_once_reset (&self->ksm_problem))
    g_message ("KSM state readable again at %s", ksm_dir);

  if (!sp_meminfo_read (self->procfs_root, mem, &error))
    {
      if (sp_log_once_changed (&self->mem_problem, error->message))
        g_warning ("Cannot read memory information, not tuning: %s", error->message);
      return FALSE;
    }
  if (sp_log_once_reset (&self->mem_problem))
    g_message ("Memory information readable again");
  return TRUE;
}

static void
publish (SpTuner *self, const SpKsmState *ksm, const SpMeminfo *mem, const SpDecision *decision)
{
  SpSnapshot *snapshot = sp_snapshot_new ();

  snapshot->serial = self->snapshot->serial + 1;
  snapshot->time_us = g_get_real_time ();
  snapshot->ksm = *ksm;
  snapshot->mem = *mem;
  sp_decision_copy (&snapshot->decision, decision);
  snapshot->config = sp_config_copy (self->config);
  snapshot->guests = sp_guests_ref (self->guests);
  snapshot->dry_run = self->dry_run;

  g_clear_pointer (&self->snapshot, sp_snapshot_unref);
  self->snapshot = snapshot;
  g_signal_emit (self, signals[SIGNAL_TUNED], 0, snapshot);
}

/* What the policy decides from: these inputs, the guests, the last decision. */
static void
policy_input (SpTuner *self, const SpKsmState *ksm, const SpMeminfo *mem, SpPolicyInput *input)
{
  const SpDecision *previous = &self->snapshot->decision;

  memset (input, 0, sizeof (*input));
  input->config = self->config;
  input->mem = *mem;
  input->committed_kib = self->guests->committed_kib;
  input->ksm = *ksm;
  input->previous_action = previous->action;
  input->previous_npages = previous->npages;
  input->page_kib = self->page_kib;
}

void
sp_tuner_retune (SpTuner *self)
{
  SpKsmState ksm = { 0 };
  SpMeminfo mem = { 0 };
  SpPolicyInput input;
  SpDecision decision = { 0 };
  g_autoptr (GError) error = NULL;
  const SpDecision *previous = &self->snapshot->decision;
  guint n_written = 0;

  g_return_if_fail (SP_IS_TUNER (self));

  g_clear_handle_id (&self->queued_id, g_source_remove);

  if (!read_inputs (self, &ksm, &mem))
    return;

  notice_outside_changes (self, &ksm);

  policy_input (self, &ksm, &mem, &input);
  sp_policy_decide (&input, &decision);
  self->n_decisions++;

  /* the journal gets a line when the action changes, not on every tick */
  if (previous->action != decision.action || self->n_decisions == 1)
    g_message ("%s", decision.reason);
  else
    g_debug ("%s", decision.reason);

  if (!sp_knobs_apply (self->knobs, &ksm, &decision, &n_written, &error))
    {
      if (sp_log_once_changed (&self->write_problem, error->message))
        g_warning ("Cannot apply the decision: %s", error->message);
    }
  else if (sp_log_once_reset (&self->write_problem))
    g_message ("KSM knobs writable again");

  sp_decision_clear (&self->applied);
  sp_decision_copy (&self->applied, &decision);
  self->applied_valid = error == NULL;

  /* the snapshot shows the knobs as they are now */
  if (n_written > 0)
    {
      g_autoptr (GError) reread_error = NULL;
      if (!sp_ksm_read (self->sysfs_root, &ksm, &reread_error))
        g_debug ("Re-reading KSM after writing: %s", reread_error->message);
    }

  publish (self, &ksm, &mem, &decision);
  sp_decision_clear (&decision);
}

static gboolean
on_tick (gpointer user_data)
{
  sp_tuner_retune (SP_TUNER (user_data));
  return G_SOURCE_CONTINUE;
}

/*
 * Between two ticks, the pressure watch reads /proc/meminfo alone (one file,
 * no fork) and retunes at once when the policy's action would change: KSM
 * stops within SP_TUNER_WATCH_INTERVAL_S of the memory coming back instead
 * of at the next tick, and starts as soon as memory runs short. The boost and
 * decay of the scan rate keep the tick's pace.
 */
static gboolean
on_watch (gpointer user_data)
{
  SpTuner *self = SP_TUNER (user_data);
  const SpDecision *previous = &self->snapshot->decision;
  SpPolicyInput input;
  SpDecision decision = { 0 };
  SpMeminfo mem = { 0 };

  if (previous->action == SP_ACTION_NONE || !self->snapshot->ksm.available ||
      !sp_meminfo_read (self->procfs_root, &mem, NULL))
    return G_SOURCE_CONTINUE; /* the tick logs the problems */

  policy_input (self, &self->snapshot->ksm, &mem, &input);
  sp_policy_decide (&input, &decision);
  if (decision.action != previous->action)
    {
      g_debug ("Pressure watch: %s", decision.reason);
      sp_tuner_retune (self);
    }
  sp_decision_clear (&decision);
  return G_SOURCE_CONTINUE;
}

static void
arm_tick (SpTuner *self)
{
  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_handle_id (&self->watch_id, g_source_remove);
  self->tick_id = g_timeout_add_seconds (self->config->monitor_interval_sec, on_tick, self);
  if (self->config->monitor_interval_sec > SP_TUNER_WATCH_INTERVAL_S)
    self->watch_id = g_timeout_add_seconds (SP_TUNER_WATCH_INTERVAL_S, on_watch, self);
}

void
sp_tuner_start (SpTuner *self)
{
  g_return_if_fail (SP_IS_TUNER (self));

  self->started = TRUE;
  sp_tuner_retune (self);
  arm_tick (self);
}

static gboolean
on_queued (gpointer user_data)
{
  SpTuner *self = SP_TUNER (user_data);

  self->queued_id = 0;
  sp_tuner_retune (self);
  return G_SOURCE_REMOVE;
}

void
sp_tuner_queue_retune (SpTuner *self, guint delay_ms)
{
  g_return_if_fail (SP_IS_TUNER (self));

  if (self->queued_id != 0)
    return;
  self->queued_id = g_timeout_add (delay_ms, on_queued, self);
}

void
sp_tuner_set_config (SpTuner *self, const SpConfig *config)
{
  g_return_if_fail (SP_IS_TUNER (self));

  sp_config_free (self->config);
  self->config = sp_config_copy (config);
  if (self->started)
    {
      arm_tick (self);
      sp_tuner_retune (self);
    }
}

const SpConfig *
sp_tuner_get_config (SpTuner *self)
{
  g_return_val_if_fail (SP_IS_TUNER (self), NULL);
  return self->config;
}

void
sp_tuner_set_guests (SpTuner *self, SpGuests *guests)
{
  g_return_if_fail (SP_IS_TUNER (self));

  g_clear_pointer (&self->guests, sp_guests_unref);
  self->guests = sp_guests_ref (guests);
}

SpSnapshot *
sp_tuner_get_snapshot (SpTuner *self)
{
  g_return_val_if_fail (SP_IS_TUNER (self), NULL);
  return self->snapshot;
}

guint64
sp_tuner_get_n_decisions (SpTuner *self)
{
  g_return_val_if_fail (SP_IS_TUNER (self), 0);
  return self->n_decisions;
}

gboolean
sp_tuner_restore (SpTuner *self, GError **error)
{
  g_return_val_if_fail (SP_IS_TUNER (self), FALSE);

  if (!self->config->restore_on_exit)
    {
      g_message ("Leaving the KSM knobs as they are (restore_on_exit=false)");
      return TRUE;
    }
  if (sp_knobs_get_n_changed (self->knobs) > 0)
    g_message ("Restoring %u KSM knob(s) to the values found at start",
               sp_knobs_get_n_changed (self->knobs));
  return sp_knobs_restore (self->knobs, error);
}
