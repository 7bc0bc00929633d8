/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-balloon"

#include "sp-balloon-actuator.h"

#include "sp-balloon-decision.h"
#include "sp-balloon-periods.h"
#include "sp-error.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"
#include "sp-str.h"

/* A target set, waiting to be reached. */
typedef struct {
  guint64 target_kib;
  gint64 since_us; /* monotonic */
  gboolean reported;
} Move;

struct _SpBalloonActuator {
  GObject parent_instance;

  SpLibvirt *libvirt;
  gboolean dry_run;
  GHashTable *moves;   /* uuid → Move */
  GHashTable *periods; /* uuid → name: stats periods set from 0 (restored on exit), and
                        * those a previous samepaged set (the record) */
  GHashTable *setting; /* uuid → name: stats periods being set (recorded already) */
  char *record_path;   /* <state-dir>/balloon-periods (periods and setting); NULL: not kept */
  SpLogOnce record_problem;
  GHashTable *pending; /* uuid: a stats period being set */
  guint refresh_id;    /* the next refresh of the managed guests' statistics */
  GPtrArray *refresh;  /* their UUIDs */
  guint n_targets_set;
  guint n_periods_set;
  SpLogOnce not_connected;
};

typedef enum {
  JOB_MEMORY,
  JOB_PERIOD,
} JobKind;

typedef struct {
  virConnectPtr conn;
  JobKind kind;
  char *uuid;
  char *name;
  guint64 value; /* KiB, or seconds */
} Job;

static void
job_free (Job *job)
{
  g_clear_pointer (&job->conn, virConnectClose);
  g_free (job->uuid);
  g_free (job->name);
  g_free (job);
}

static void sp_balloon_actuator_iface_init (SpActuatorInterface *iface);

G_DEFINE_TYPE_WITH_CODE (SpBalloonActuator, sp_balloon_actuator, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_ACTUATOR, sp_balloon_actuator_iface_init))

static void
sp_balloon_actuator_finalize (GObject *object)
{
  SpBalloonActuator *self = SP_BALLOON_ACTUATOR (object);

  g_clear_handle_id (&self->refresh_id, g_source_remove);
  g_ptr_array_unref (self->refresh);
  g_clear_object (&self->libvirt);
  g_hash_table_unref (self->moves);
  g_hash_table_unref (self->periods);
  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->setting);
  g_free (self->record_path);
  sp_log_once_reset (&self->not_connected);
  sp_log_once_reset (&self->record_problem);
  G_OBJECT_CLASS (sp_balloon_actuator_parent_class)->finalize (object);
}

static void
sp_balloon_actuator_class_init (SpBalloonActuatorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_balloon_actuator_finalize;
}

static void
sp_balloon_actuator_init (SpBalloonActuator *self)
{
  self->moves = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->periods = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->setting = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->refresh = g_ptr_array_new_with_free_func (g_free);
}

SpActuator *
sp_balloon_actuator_new (SpLibvirt *libvirt, gboolean dry_run)
{
  SpBalloonActuator *self = g_object_new (SP_TYPE_BALLOON_ACTUATOR, NULL);

  self->libvirt = g_object_ref (libvirt);
  self->dry_run = dry_run;
  return SP_ACTUATOR (self);
}

/* Keeps the periods set and being set in the record; a record that cannot
 * be written is logged (once) and the change goes on: the periods are
 * still put back on a clean exit. */
static void
save_record (SpBalloonActuator *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GHashTable) all = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (self->record_path == NULL)
    return;
  all = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_iter_init (&iter, self->periods);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (all, key, value);
  g_hash_table_iter_init (&iter, self->setting);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_hash_table_insert (all, key, value);
  if (!sp_balloon_periods_save (self->record_path, all, &error))
    {
      if (sp_log_once_changed (&self->record_problem, error->message))
        g_warning ("Cannot keep the domains whose memory stats period samepaged set (a crash "
                   "would leave those periods set): %s",
                   error->message);
      return;
    }
  if (sp_log_once_reset (&self->record_problem))
    g_message ("The domains whose memory stats period samepaged set are kept in %s again",
               self->record_path);
}

void
sp_balloon_actuator_set_state_dir (SpBalloonActuator *self, const char *state_dir)
{
  g_autoptr (GError) error = NULL;
  guint n_before;

  g_return_if_fail (SP_IS_BALLOON_ACTUATOR (self));

  g_clear_pointer (&self->record_path, g_free);
  /* a dry run sets no period, and keeps no record */
  if (state_dir == NULL || self->dry_run)
    return;
  self->record_path = g_build_filename (state_dir, SP_BALLOON_PERIODS_FILE, NULL);
  n_before = g_hash_table_size (self->periods);
  if (!sp_balloon_periods_load (self->record_path, self->periods, &error))
    {
      g_warning ("Ignoring the record of memory stats periods found at start: %s", error->message);
      return;
    }
  if (g_hash_table_size (self->periods) > n_before)
    g_message ("%s: a previous samepaged set the memory stats period of %u domain(s) and did "
               "not put it back; each goes back to 0 unless samepaged manages it",
               self->record_path, g_hash_table_size (self->periods) - n_before);
}

const char *
sp_balloon_actuator_get_record_path (SpBalloonActuator *self)
{
  g_return_val_if_fail (SP_IS_BALLOON_ACTUATOR (self), NULL);
  return self->record_path;
}

guint
sp_balloon_actuator_get_n_targets_set (SpBalloonActuator *self)
{
  g_return_val_if_fail (SP_IS_BALLOON_ACTUATOR (self), 0);
  return self->n_targets_set;
}

guint
sp_balloon_actuator_get_n_periods_set (SpBalloonActuator *self)
{
  g_return_val_if_fail (SP_IS_BALLOON_ACTUATOR (self), 0);
  return self->n_periods_set;
}

static gboolean
run_job (virConnectPtr conn, JobKind kind, const char *uuid, const char *name, guint64 value,
         GError **error)
{
  g_autoptr (virDomain) dom = virDomainLookupByUUIDString (conn, uuid);
  int rc;

  if (dom == NULL)
    {
      sp_libvirt_set_error (error, "Cannot find domain %s", name);
      return FALSE;
    }
  if (kind == JOB_MEMORY)
    rc = virDomainSetMemoryFlags (dom, (unsigned long) value, VIR_DOMAIN_AFFECT_LIVE);
  else
    rc = virDomainSetMemoryStatsPeriod (dom, (int) value, VIR_DOMAIN_AFFECT_LIVE);
  if (rc < 0)
    {
      if (kind == JOB_MEMORY)
        sp_libvirt_set_error (error, "Cannot set the balloon of %s", name);
      else
        sp_libvirt_set_error (error, "Cannot set the memory stats period of %s", name);
      return FALSE;
    }
  return TRUE;
}

static void
job_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  Job *job = data;
  GError *error = NULL;

  if (run_job (job->conn, job->kind, job->uuid, job->name, job->value, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
job_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpBalloonActuator *self = SP_BALLOON_ACTUATOR (source);
  Job *job = g_task_get_task_data (G_TASK (result));
  g_autoptr (GError) error = NULL;

  if (job->kind == JOB_PERIOD)
    g_hash_table_remove (self->pending, job->uuid);
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      sp_log_domain (G_LOG_LEVEL_WARNING, job->name, job->uuid, "%s", error->message);
      if (job->kind == JOB_MEMORY)
        g_hash_table_remove (self->moves, job->uuid); /* tried again at the next decision */
      else if (job->value > 0 && g_hash_table_remove (self->setting, job->uuid) &&
               !g_hash_table_contains (self->periods, job->uuid))
        save_record (self); /* not set: nothing to put back */
      /* a period not put back stays in the record: tried again at the next decision */
      return;
    }
  if (job->kind == JOB_PERIOD && job->value == 0)
    {
      g_hash_table_remove (self->periods, job->uuid);
      save_record (self);
      sp_log_domain (G_LOG_LEVEL_INFO, job->name, job->uuid,
                     "Memory stats period of %s put back to 0 (samepaged does not manage its "
                     "balloon)",
                     job->name);
    }
  else if (job->kind == JOB_PERIOD)
    {
      /* in the record already */
      g_hash_table_remove (self->setting, job->uuid);
      g_hash_table_insert (self->periods, g_strdup (job->uuid), g_strdup (job->name));
      self->n_periods_set++;
      sp_log_domain (G_LOG_LEVEL_INFO, job->name, job->uuid,
                     "Memory stats period of %s set to %" G_GUINT64_FORMAT " s", job->name,
                     job->value);
      /* the guest's first statistics */
      sp_libvirt_queue_refresh_domain (self->libvirt, job->uuid);
    }
  else
    self->n_targets_set++;
}

static void
queue_job (SpBalloonActuator *self, JobKind kind, const char *uuid, const char *name, guint64 value)
{
  g_autoptr (GTask) task = NULL;
  virConnectPtr conn = sp_libvirt_ref_connection (self->libvirt);
  Job *job;

  if (conn == NULL)
    {
      const char *message = "Not connected to libvirt: balloons wait for the connection";

      if (sp_log_once_changed (&self->not_connected, message))
        g_message ("%s", message);
      if (kind == JOB_PERIOD)
        {
          g_hash_table_remove (self->pending, uuid);
          if (g_hash_table_remove (self->setting, uuid))
            save_record (self);
        }
      else
        g_hash_table_remove (self->moves, uuid);
      return;
    }
  sp_log_once_reset (&self->not_connected);
  job = g_new0 (Job, 1);
  job->conn = conn;
  job->kind = kind;
  job->uuid = g_strdup (uuid);
  job->name = g_strdup (name);
  job->value = value;
  task = g_task_new (self, NULL, job_done, NULL);
  g_task_set_source_tag (task, queue_job);
  g_task_set_task_data (task, job, (GDestroyNotify) job_free);
  g_task_run_in_thread (task, job_thread);
}

static const char *
balloon_actuator_get_name (SpActuator *actuator)
{
  return "balloon";
}

static void
apply_period (SpBalloonActuator *self, const SpSnapshot *next, const SpBalloonTarget *target)
{
  const SpDomainInfo *info = next->guests ? sp_guests_find (next->guests, target->uuid) : NULL;

  if (info == NULL || !target->managed || info->balloon.stats_period_sec != 0)
    return;
  if (g_hash_table_contains (self->pending, target->uuid))
    return;
  g_hash_table_add (self->pending, g_strdup (target->uuid));
  /* recorded before it is set: a crash right after leaves a record */
  g_hash_table_insert (self->setting, g_strdup (target->uuid), g_strdup (target->name));
  save_record (self);
  queue_job (self, JOB_PERIOD, target->uuid, target->name,
             (guint64) next->config->balloon_stats_period_sec);
}

static gboolean
is_managed (const SpSnapshot *next, const char *uuid)
{
  const SpBalloonTarget *target;

  if (next->balloon == NULL || next->balloon->mode != SP_BALLOON_MODE_AUTO)
    return FALSE;
  target = sp_balloon_decision_find (next->balloon, uuid);
  return target != NULL && target->managed;
}

/*
 * The periods samepaged set (this run, or a previous samepaged that crashed
 * or could not reach libvirtd on exit) of domains it does not manage any
 * more (balloon off, opted out, no virtio balloon): put back to 0 while
 * they run. Forgotten: undefined domains, and shut-off ones (a new QEMU
 * starts with the period of its config). A managed domain keeps its period
 * and its record.
 */
static void
reconcile_periods (SpBalloonActuator *self, const SpSnapshot *next)
{
  gboolean forgot = FALSE;
  GHashTableIter iter;
  gpointer key, value;

  if (next->guests == NULL || !next->guests->connected)
    return;
  g_hash_table_iter_init (&iter, self->periods);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      const SpDomainInfo *info = sp_guests_find (next->guests, key);

      if (g_hash_table_contains (self->pending, key))
        continue; /* being set or put back */
      if (is_managed (next, key))
        continue; /* (first: the snapshot may predate the period just set) */
      if (info == NULL || !info->active || info->balloon.stats_period_sec == 0)
        {
          sp_log_domain (G_LOG_LEVEL_DEBUG, value, key,
                         "Memory stats period of %s: nothing to put back (%s)",
                         (const char *) value,
                         info == NULL    ? "undefined"
                         : !info->active ? "not running"
                                         : "it is 0");
          g_hash_table_iter_remove (&iter);
          forgot = TRUE;
          continue;
        }
      g_hash_table_add (self->pending, g_strdup (key));
      queue_job (self, JOB_PERIOD, key, value, 0);
    }
  if (forgot)
    save_record (self);
}

static gboolean
on_refresh_timeout (gpointer user_data)
{
  SpBalloonActuator *self = SP_BALLOON_ACTUATOR (user_data);

  self->refresh_id = 0;
  for (guint i = 0; i < self->refresh->len; i++)
    sp_libvirt_queue_refresh_domain (self->libvirt, g_ptr_array_index (self->refresh, i));
  return G_SOURCE_REMOVE;
}

/* While the host is under pressure or a balloon moves, the managed guests'
 * statistics are read again every stats period (the refresh retunes): the
 * policy never works from statistics older than that. */
static void
arm_refresh (SpBalloonActuator *self, const SpSnapshot *next)
{
  const SpBalloonDecision *decision = next->balloon;

  g_ptr_array_set_size (self->refresh, 0);
  for (guint i = 0; i < decision->targets->len; i++)
    {
      const SpBalloonTarget *target = g_ptr_array_index (decision->targets, i);

      if (target->managed)
        g_ptr_array_add (self->refresh, g_strdup (target->uuid));
    }
  if (self->refresh->len == 0 || (!decision->pressure && g_hash_table_size (self->moves) == 0))
    {
      g_clear_handle_id (&self->refresh_id, g_source_remove);
      return;
    }
  if (self->refresh_id == 0)
    self->refresh_id = g_timeout_add_seconds ((guint) next->config->balloon_stats_period_sec,
                                              on_refresh_timeout, self);
}

static void
balloon_actuator_apply (SpActuator *actuator, SpSnapshot *next)
{
  SpBalloonActuator *self = SP_BALLOON_ACTUATOR (actuator);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  gint64 now_us = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer key;

  if (!self->dry_run)
    reconcile_periods (self, next);
  if (next->balloon == NULL)
    return;
  for (guint i = 0; i < next->balloon->targets->len; i++)
    {
      SpBalloonTarget *target = g_ptr_array_index (next->balloon->targets, i);
      Move *move;

      g_hash_table_add (seen, target->uuid);
      if (self->dry_run)
        {
          if (target->action == SP_BALLOON_ACTION_SHRINK ||
              target->action == SP_BALLOON_ACTION_GROW)
            sp_log_domain (G_LOG_LEVEL_INFO, target->name, target->uuid,
                           "Balloon of %s: %s (dry run: not set)", target->name, target->reason);
          continue;
        }
      apply_period (self, next, target);
      if (target->action != SP_BALLOON_ACTION_SHRINK && target->action != SP_BALLOON_ACTION_GROW)
        {
          g_hash_table_remove (self->moves, target->uuid);
          continue;
        }
      move = g_hash_table_lookup (self->moves, target->uuid);
      if (move != NULL && move->target_kib == target->target_kib)
        {
          gint64 timeout_us = next->config->balloon_timeout_sec * G_USEC_PER_SEC;

          if (now_us - move->since_us < timeout_us)
            continue;
          target->timed_out = TRUE;
          if (!move->reported)
            {
              g_autofree char *goal = sp_format_kib ((gint64) target->target_kib);
              g_autofree char *current = sp_format_kib ((gint64) target->current_kib);

              sp_log_domain (G_LOG_LEVEL_WARNING, target->name, target->uuid,
                             "Balloon of %s did not reach %s within %" G_GINT64_FORMAT
                             " s (at %s): left alone",
                             target->name, goal, next->config->balloon_timeout_sec, current);
              move->reported = TRUE;
            }
          continue;
        }
      move = g_new0 (Move, 1);
      move->target_kib = target->target_kib;
      move->since_us = now_us;
      g_hash_table_insert (self->moves, g_strdup (target->uuid), move);
      sp_log_domain (G_LOG_LEVEL_INFO, target->name, target->uuid, "Balloon of %s: %s",
                     target->name, target->reason);
      queue_job (self, JOB_MEMORY, target->uuid, target->name, target->target_kib);
    }
  /* domains gone or stopped */
  g_hash_table_iter_init (&iter, self->moves);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (!g_hash_table_contains (seen, key))
      g_hash_table_iter_remove (&iter);
  if (!self->dry_run)
    arm_refresh (self, next);
}

/* TRUE when the period is 0 now, or there is nothing to put back (the
 * domain is gone or not running: a new QEMU starts with its config's). */
static gboolean
put_back_period (virConnectPtr conn, const char *uuid, const char *name, GError **error)
{
  g_autoptr (virDomain) dom = virDomainLookupByUUIDString (conn, uuid);

  if (dom == NULL || virDomainIsActive (dom) == 0)
    return TRUE;
  return run_job (conn, JOB_PERIOD, uuid, name, 0, error);
}

/*
 * Puts back the stats periods it set, whatever restore_on_exit says (leave
 * does the same): a stats period is samepaged's own change to a guest, not
 * a setting an operator chose (unlike the KSM knobs). What cannot be put
 * back (libvirtd unreachable) stays in the record for the next samepaged.
 * Never sets a balloon.
 */
static gboolean
balloon_actuator_restore (SpActuator *actuator, GError **error)
{
  SpBalloonActuator *self = SP_BALLOON_ACTUATOR (actuator);
  g_autoptr (GError) first_error = NULL;
  g_autoptr (virConnect) conn = NULL;
  GHashTableIter iter;
  gpointer key, value;

  if (g_hash_table_size (self->periods) == 0)
    return TRUE;
  conn = sp_libvirt_ref_connection (self->libvirt);
  if (conn == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_NOT_CONNECTED,
                   "Not connected to libvirt: cannot put back %u memory stats periods%s%s",
                   g_hash_table_size (self->periods),
                   self->record_path != NULL ? "; the next samepaged will, from " : "",
                   self->record_path != NULL ? self->record_path : "");
      return FALSE;
    }
  g_hash_table_iter_init (&iter, self->periods);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      g_autoptr (GError) local_error = NULL;

      if (put_back_period (conn, key, value, &local_error))
        {
          sp_log_domain (G_LOG_LEVEL_INFO, value, key, "Memory stats period of %s put back to 0",
                         (const char *) value);
          g_hash_table_iter_remove (&iter);
        }
      else if (first_error == NULL)
        first_error = g_steal_pointer (&local_error);
    }
  save_record (self);
  if (first_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&first_error));
      return FALSE;
    }
  return TRUE;
}

/* restore_on_exit=false leaves the KSM knobs; the periods go back all the same. */
static void
balloon_actuator_leave (SpActuator *actuator)
{
  g_autoptr (GError) error = NULL;

  if (!balloon_actuator_restore (actuator, &error))
    g_warning ("%s", error->message);
}

static void
sp_balloon_actuator_iface_init (SpActuatorInterface *iface)
{
  iface->get_name = balloon_actuator_get_name;
  iface->apply = balloon_actuator_apply;
  iface->restore = balloon_actuator_restore;
  iface->leave = balloon_actuator_leave;
}
