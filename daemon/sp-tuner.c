/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-tuner"

#include "sp-tuner.h"

#include <unistd.h>

#include "sp-arcstats.h"
#include "sp-error.h"
#include "sp-io.h"
#include "sp-ksm-actuator.h"
#include "sp-ksm-policy.h"
#include "sp-ksm-unmerge.h"
#include "sp-log.h"
#include "sp-psi-trigger.h"

struct _SpTuner {
  GObject parent_instance;

  SpConfig *config;
  char *sysfs_root;
  char *procfs_root;
  gboolean dry_run;

  GPtrArray *policies;         /* SpPolicy, in the order they decide */
  GPtrArray *actuators;        /* SpActuator, in the order they apply */
  SpKsmActuator *ksm_actuator; /* in actuators */
  SpPsiTrigger *psi;           /* the memory pressure trigger */
  SpGuests *guests;
  SpSnapshot *snapshot;
  guint64 n_decisions;
  SpKsmdCostMeter cost_meter; /* ksmd's CPU across decision windows */

  guint tick_id;
  guint watch_id;
  guint queued_id;
  gboolean started;
  guint restore_timeout_ms; /* each actuator's, on exit */

  SpLogOnce ksm_problem;
  SpLogOnce mem_problem;
  SpLogOnce merge_across_nodes_problem;
  SpLogOnce arc_problem;
};

enum {
  SIGNAL_TUNED,
  SIGNAL_RETUNE_REQUESTED,
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
  if (self->psi != NULL)
    g_signal_handlers_disconnect_by_data (self->psi, self);
  g_clear_object (&self->psi);
  g_clear_pointer (&self->policies, g_ptr_array_unref);
  g_clear_pointer (&self->actuators, g_ptr_array_unref);
  self->ksm_actuator = NULL;
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
  sp_log_once_reset (&self->ksm_problem);
  sp_log_once_reset (&self->mem_problem);
  sp_log_once_reset (&self->merge_across_nodes_problem);
  sp_log_once_reset (&self->arc_problem);
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

  /**
   * SpTuner::retune-requested:
   *
   * Someone asked for a retune (Retune over D-Bus), before it runs: the
   * inputs (the libvirt domain list) may be resynced.
   */
  signals[SIGNAL_RETUNE_REQUESTED] =
      g_signal_new ("retune-requested", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                    NULL, G_TYPE_NONE, 0);
}

static void
sp_tuner_init (SpTuner *self)
{
  self->policies = g_ptr_array_new_with_free_func (g_object_unref);
  self->actuators = g_ptr_array_new_with_free_func (g_object_unref);
  self->guests = sp_guests_new ();
  self->snapshot = sp_snapshot_new ();
  self->snapshot->guests = sp_guests_ref (self->guests);
  sp_ksmd_cost_meter_init (&self->cost_meter);
  self->restore_timeout_ms = SP_TUNER_RESTORE_TIMEOUT_S * 1000;
}

/* A memory pressure event: retune now (the policy boosts). The journal
 * gets a line when pressure starts, not on every event. */
static void
on_pressure (SpPsiTrigger *psi, const char *description, gpointer user_data)
{
  SpTuner *self = SP_TUNER (user_data);

  if (self->snapshot->pressure == NULL)
    g_message ("%s: retuning now, at the top scan rate", description);
  else
    g_debug ("%s: retuning now", description);
  if (self->started)
    sp_tuner_retune (self);
}

SpTuner *
sp_tuner_new (const SpConfig *config, const char *sysfs_root, const char *procfs_root,
              gboolean dry_run)
{
  SpTuner *self = g_object_new (SP_TYPE_TUNER, NULL);
  g_autoptr (SpPolicy) ksm_policy = sp_ksm_policy_new ();
  g_autoptr (SpKsmActuator) ksm_actuator = sp_ksm_actuator_new (sysfs_root, dry_run);

  self->config = sp_config_copy (config);
  self->sysfs_root = g_strdup (sysfs_root);
  self->procfs_root = g_strdup (procfs_root);
  self->dry_run = dry_run;
  self->snapshot->config = sp_config_copy (config);
  self->snapshot->dry_run = dry_run;
  sp_tuner_add_policy (self, ksm_policy);
  sp_tuner_add_actuator (self, SP_ACTUATOR (ksm_actuator));
  self->ksm_actuator = ksm_actuator;
  self->psi = sp_psi_trigger_new (procfs_root);
  g_signal_connect (self->psi, "pressure", G_CALLBACK (on_pressure), self);
  return self;
}

void
sp_tuner_add_policy (SpTuner *self, SpPolicy *policy)
{
  g_return_if_fail (SP_IS_TUNER (self));
  g_return_if_fail (SP_IS_POLICY (policy));

  g_ptr_array_add (self->policies, g_object_ref (policy));
}

void
sp_tuner_add_actuator (SpTuner *self, SpActuator *actuator)
{
  g_return_if_fail (SP_IS_TUNER (self));
  g_return_if_fail (SP_IS_ACTUATOR (actuator));

  g_ptr_array_add (self->actuators, g_object_ref (actuator));
}

/* /proc/meminfo, and the ZFS ARC when free_source asks for it: without it
 * (no ZFS, an odd file), a warning once and MemAvailable alone. */
static gboolean
read_memory (SpTuner *self, SpMeminfo *mem, GError **error)
{
  if (!sp_meminfo_read (self->procfs_root, mem, error))
    return FALSE;
  if (self->config->free_source == SP_FREE_SOURCE_AVAILABLE_ARC)
    sp_arcstats_add (self->procfs_root, mem, &self->arc_problem);
  return TRUE;
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

  if (!read_memory (self, mem, &error))
    {
      if (sp_log_once_changed (&self->mem_problem, error->message))
        g_warning ("Cannot read memory information, not tuning: %s", error->message);
      return FALSE;
    }
  if (sp_log_once_reset (&self->mem_problem))
    g_message ("Memory information readable again");
  return TRUE;
}

/* A snapshot holding the inputs of a pass, for the policies to decide on. */
static SpSnapshot *
snapshot_with_inputs (SpTuner *self, const SpKsmState *ksm, const SpMeminfo *mem)
{
  SpSnapshot *next = sp_snapshot_new ();

  next->serial = self->snapshot->serial + 1;
  next->ksm = *ksm;
  next->mem = *mem;
  next->cost = self->snapshot->cost;
  next->config = sp_config_copy (self->config);
  next->guests = sp_guests_ref (self->guests);
  next->dry_run = self->dry_run;
  /* a pressure event counts until monitor_interval after it (the next tick) */
  next->pressure = g_strdup (sp_psi_trigger_get_recent (
      self->psi, (gint64) self->config->monitor_interval_sec * G_USEC_PER_SEC));
  next->pressure_trigger = g_strdup (sp_psi_trigger_get_active (self->psi));
  next->pressure_last = g_strdup (sp_psi_trigger_get_last (self->psi));
  return next;
}

static void
decide (SpTuner *self, SpSnapshot *next)
{
  for (guint i = 0; i < self->policies->len; i++)
    sp_policy_decide (g_ptr_array_index (self->policies, i), self->snapshot, next);
}

static void
publish (SpTuner *self, SpSnapshot *next)
{
  next->time_us = g_get_real_time ();
  g_clear_pointer (&self->snapshot, sp_snapshot_unref);
  self->snapshot = next;
  g_signal_emit (self, signals[SIGNAL_TUNED], 0, next);
}

void
sp_tuner_request_retune (SpTuner *self)
{
  g_return_if_fail (SP_IS_TUNER (self));

  g_signal_emit (self, signals[SIGNAL_RETUNE_REQUESTED], 0);
  sp_tuner_retune (self);
}

/* One tuning pass, as sp-policy.h describes it. */
void
sp_tuner_retune (SpTuner *self)
{
  SpKsmState ksm = { 0 };
  SpMeminfo mem = { 0 };
  SpSnapshot *next;
  const SpDecision *previous;

  g_return_if_fail (SP_IS_TUNER (self));

  g_clear_handle_id (&self->queued_id, g_source_remove);

  if (!read_inputs (self, &ksm, &mem))
    return;
  next = snapshot_with_inputs (self, &ksm, &mem);
  sp_ksmd_cost_meter_sample (&self->cost_meter, self->procfs_root, &ksm, g_get_monotonic_time (),
                             (guint64) MAX (sysconf (_SC_CLK_TCK), 1), sp_page_size_kib (),
                             &next->cost);
  if (ksm.available)
    {
      g_autofree char *cost = sp_ksm_cost_describe (&next->cost);
      g_debug ("KSM cost: %s", cost);
    }

  for (guint i = 0; i < self->actuators->len; i++)
    sp_actuator_observe (g_ptr_array_index (self->actuators, i), next);

  decide (self, next);
  self->n_decisions++;

  /* the journal gets a line when the action changes, not on every tick */
  previous = &self->snapshot->decision;
  if (previous->action != next->decision.action || self->n_decisions == 1 ||
      previous->guard.phase != next->decision.guard.phase)
    g_message ("%s", next->decision.reason);
  else
    g_debug ("%s", next->decision.reason);

  for (guint i = 0; i < self->actuators->len; i++)
    sp_actuator_apply (g_ptr_array_index (self->actuators, i), next);

  publish (self, next);
}

static gboolean
on_tick (gpointer user_data)
{
  sp_tuner_retune (SP_TUNER (user_data));
  return G_SOURCE_CONTINUE;
}

/*
 * Between two ticks, the pressure watch reads /proc/meminfo alone (one file,
 * no fork), lets the policies decide on it, and retunes at once when one of
 * them says its decision cannot wait (the KSM policy: KSM should start or
 * stop): KSM stops within SP_TUNER_WATCH_INTERVAL_S of the memory coming
 * back instead of at the next tick, and starts as soon as memory runs
 * short. The boost and decay of the scan rate keep the tick's pace.
 */
static gboolean
on_watch (gpointer user_data)
{
  SpTuner *self = SP_TUNER (user_data);
  g_autoptr (SpSnapshot) next = NULL;
  SpMeminfo mem = { 0 };

  if (!read_memory (self, &mem, NULL))
    return G_SOURCE_CONTINUE; /* the tick logs the problems */

  next = snapshot_with_inputs (self, &self->snapshot->ksm, &mem);
  decide (self, next);
  for (guint i = 0; i < self->policies->len; i++)
    {
      SpPolicy *policy = g_ptr_array_index (self->policies, i);
      const char *reason = sp_policy_urgent_reason (policy, self->snapshot, next);

      if (reason != NULL)
        {
          g_debug ("Pressure watch: %s", reason);
          sp_tuner_retune (self);
          break;
        }
    }
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
  sp_psi_trigger_configure (self->psi, &self->config->pressure_trigger);
}

static void sync_merge_across_nodes (SpTuner *self);

void
sp_tuner_start (SpTuner *self)
{
  g_return_if_fail (SP_IS_TUNER (self));

  self->started = TRUE;
  /* the pressure trigger first: the first snapshot shows it (PressureTrigger) */
  arm_tick (self);
  sp_tuner_retune (self);
  sync_merge_across_nodes (self);
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
      sync_merge_across_nodes (self);
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
  g_autoptr (GError) first_error = NULL;

  g_return_val_if_fail (SP_IS_TUNER (self), FALSE);

  if (!self->config->restore_on_exit)
    {
      g_message ("Leaving the KSM knobs as they are (restore_on_exit=false)");
      for (guint i = self->actuators->len; i > 0; i--)
        {
          g_autoptr (GError) local_error = NULL;

          if (!sp_actuator_leave_within (g_ptr_array_index (self->actuators, i - 1),
                                         self->restore_timeout_ms, &local_error))
            g_warning ("%s", local_error->message);
        }
      return TRUE;
    }
  /* the last added first; every actuator tries, the first error is returned */
  for (guint i = self->actuators->len; i > 0; i--)
    {
      SpActuator *actuator = g_ptr_array_index (self->actuators, i - 1);
      g_autoptr (GError) local_error = NULL;

      if (sp_actuator_restore_within (actuator, self->restore_timeout_ms, &local_error))
        continue;
      g_debug ("Actuator %s could not restore everything: %s", sp_actuator_get_name (actuator),
               local_error->message);
      if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }
  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

void
sp_tuner_set_restore_timeout (SpTuner *self, guint timeout_ms)
{
  g_return_if_fail (SP_IS_TUNER (self));
  self->restore_timeout_ms = timeout_ms;
}

void
sp_tuner_set_state_dir (SpTuner *self, const char *state_dir)
{
  g_return_if_fail (SP_IS_TUNER (self));
  sp_ksm_actuator_set_state_dir (self->ksm_actuator, state_dir);
}

SpPsiTrigger *
sp_tuner_get_psi_trigger (SpTuner *self)
{
  g_return_val_if_fail (SP_IS_TUNER (self), NULL);
  return self->psi;
}

SpKsmActuator *
sp_tuner_get_ksm_actuator (SpTuner *self)
{
  g_return_val_if_fail (SP_IS_TUNER (self), NULL);
  return self->ksm_actuator;
}

/* ------------------------------------------------------------------------ */
/* Unmerging */

gboolean
sp_tuner_check_unmerge (SpTuner *self, gint64 merge_across_nodes, gboolean *needed, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  SpKsmState ksm = { 0 };
  SpMeminfo mem = { 0 };

  g_return_val_if_fail (SP_IS_TUNER (self), FALSE);

  if (needed != NULL)
    *needed = FALSE;
  if (!sp_ksm_read (self->sysfs_root, &ksm, &local_error))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot read KSM: %s", local_error->message);
      return FALSE;
    }
  if (!ksm.available)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_KSM_UNAVAILABLE,
                           "KSM is not available on this kernel");
      return FALSE;
    }
  if (merge_across_nodes >= 0)
    {
      if (!sp_ksm_state_has (&ksm, SP_KSM_MERGE_ACROSS_NODES))
        {
          g_set_error_literal (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                               "merge_across_nodes is not supported by this kernel (no "
                               "kernel/mm/ksm/merge_across_nodes: built without NUMA)");
          return FALSE;
        }
      if (sp_ksm_state_get (&ksm, SP_KSM_MERGE_ACROSS_NODES) == merge_across_nodes)
        return TRUE;
    }
  if (!sp_meminfo_read (self->procfs_root, &mem, &local_error))
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED, "Cannot read memory information: %s",
                   local_error->message);
      return FALSE;
    }
  if (!sp_ksm_unmerge_check (&ksm, &mem, sp_ksm_policy_threshold_kib (self->config, mem.total_kib),
                             sp_page_size_kib (), error))
    return FALSE;
  if (needed != NULL)
    *needed = TRUE;
  return TRUE;
}

static void
on_unmerged (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  SpTuner *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!sp_ksm_unmerge_finish (result, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->actuators != NULL)
    sp_tuner_retune (self);
  g_task_return_boolean (task, TRUE);
}

void
sp_tuner_unmerge_async (SpTuner *self, gint64 merge_across_nodes, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  GError *error = NULL;
  gboolean needed = FALSE;
  SpKsmUnmergeOptions options = { .merge_across_nodes = merge_across_nodes };

  g_return_if_fail (SP_IS_TUNER (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_tuner_unmerge_async);
  if (!sp_tuner_check_unmerge (self, merge_across_nodes, &needed, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (!needed)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (self->dry_run)
    {
      if (merge_across_nodes >= 0)
        g_message ("dry run: would unmerge (run = 2), write merge_across_nodes = %" G_GINT64_FORMAT
                   " and put run back",
                   merge_across_nodes);
      else
        g_message ("dry run: would unmerge every merged page (run = 2)");
      g_task_return_boolean (task, TRUE);
      return;
    }
  sp_ksm_unmerge_async (self->ksm_actuator, self->sysfs_root, &options, on_unmerged,
                        g_steal_pointer (&task));
}

gboolean
sp_tuner_unmerge_finish (SpTuner *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_merge_across_nodes_synced (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpTuner *self = SP_TUNER (source);
  g_autoptr (GError) error = NULL;

  if (!sp_tuner_unmerge_finish (self, result, &error))
    {
      if (sp_log_once_changed (&self->merge_across_nodes_problem, error->message))
        g_warning ("merge_across_nodes = %" G_GINT64_FORMAT " (configured) not applied: %s",
                   self->config->merge_across_nodes, error->message);
    }
  else
    sp_log_once_reset (&self->merge_across_nodes_problem);
}

/* At start and when the config changes: merge_across_nodes as configured,
 * when it is not already (an unmerge first). */
static void
sync_merge_across_nodes (SpTuner *self)
{
  g_autoptr (GError) error = NULL;
  gboolean needed = FALSE;

  if (self->config->merge_across_nodes < 0 || sp_ksm_actuator_is_held (self->ksm_actuator))
    return;
  if (!sp_tuner_check_unmerge (self, self->config->merge_across_nodes, &needed, &error))
    {
      if (sp_log_once_changed (&self->merge_across_nodes_problem, error->message))
        g_warning ("merge_across_nodes = %" G_GINT64_FORMAT " (configured) not applied: %s",
                   self->config->merge_across_nodes, error->message);
      return;
    }
  if (!needed)
    return;
  sp_tuner_unmerge_async (self, self->config->merge_across_nodes, on_merge_across_nodes_synced,
                          NULL);
}
