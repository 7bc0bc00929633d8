/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-actuator"

#include "sp-actuator.h"

#include "sp-error.h"

G_DEFINE_INTERFACE (SpActuator, sp_actuator, G_TYPE_OBJECT)

static void
sp_actuator_default_init (SpActuatorInterface *iface)
{
}

const char *
sp_actuator_get_name (SpActuator *self)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), NULL);
  return SP_ACTUATOR_GET_IFACE (self)->get_name (self);
}

void
sp_actuator_observe (SpActuator *self, const SpSnapshot *next)
{
  SpActuatorInterface *iface;

  g_return_if_fail (SP_IS_ACTUATOR (self));
  g_return_if_fail (next != NULL);
  iface = SP_ACTUATOR_GET_IFACE (self);
  if (iface->observe != NULL)
    iface->observe (self, next);
}

void
sp_actuator_apply (SpActuator *self, SpSnapshot *next)
{
  g_return_if_fail (SP_IS_ACTUATOR (self));
  g_return_if_fail (next != NULL);
  SP_ACTUATOR_GET_IFACE (self)->apply (self, next);
}

gboolean
sp_actuator_restore (SpActuator *self, GError **error)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return SP_ACTUATOR_GET_IFACE (self)->restore (self, error);
}

void
sp_actuator_leave (SpActuator *self)
{
  SpActuatorInterface *iface;

  g_return_if_fail (SP_IS_ACTUATOR (self));
  iface = SP_ACTUATOR_GET_IFACE (self);
  if (iface->leave != NULL)
    iface->leave (self);
}

/* ---- a restore with a time limit --------------------------------------- */

typedef struct {
  GMutex lock;
  GCond cond;
  SpActuator *actuator;
  gboolean leave; /* sp_actuator_leave() instead */
  gboolean done;
  gboolean ok;
  GError *error;
} RestoreJob;

static void
restore_job_clear (gpointer data)
{
  RestoreJob *job = data;

  g_object_unref (job->actuator);
  g_clear_error (&job->error);
  g_cond_clear (&job->cond);
  g_mutex_clear (&job->lock);
}

static void
restore_job_release (RestoreJob *job)
{
  g_atomic_rc_box_release_full (job, restore_job_clear);
}

static gpointer
restore_thread (gpointer data)
{
  RestoreJob *job = data;
  GError *error = NULL;
  gboolean ok = TRUE;

  if (job->leave)
    sp_actuator_leave (job->actuator);
  else
    ok = sp_actuator_restore (job->actuator, &error);

  g_mutex_lock (&job->lock);
  job->ok = ok;
  job->error = error;
  job->done = TRUE;
  g_cond_signal (&job->cond);
  g_mutex_unlock (&job->lock);
  restore_job_release (job);
  return NULL;
}

static gboolean
run_within (SpActuator *self, gboolean leave, guint timeout_ms, GError **error)
{
  g_autoptr (GError) thread_error = NULL;
  RestoreJob *job;
  GThread *thread;
  gint64 deadline_us;
  gboolean done;
  gboolean ok = FALSE;

  job = g_atomic_rc_box_new0 (RestoreJob);
  g_mutex_init (&job->lock);
  g_cond_init (&job->cond);
  job->actuator = g_object_ref (self);
  job->leave = leave;
  thread =
      g_thread_try_new ("sp-restore", restore_thread, g_atomic_rc_box_acquire (job), &thread_error);
  if (thread == NULL)
    {
      /* no thread: in this one, without the limit */
      g_debug ("Restoring %s without a time limit: %s", sp_actuator_get_name (self),
               thread_error->message);
      restore_job_release (job);
      restore_job_release (job);
      if (!leave)
        return sp_actuator_restore (self, error);
      sp_actuator_leave (self);
      return TRUE;
    }

  deadline_us = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  g_mutex_lock (&job->lock);
  while (!job->done && g_cond_wait_until (&job->cond, &job->lock, deadline_us))
    ;
  done = job->done;
  if (done)
    {
      ok = job->ok;
      if (!ok)
        g_propagate_error (error, g_steal_pointer (&job->error));
    }
  g_mutex_unlock (&job->lock);

  if (done)
    g_thread_join (thread);
  else
    {
      /* the thread keeps its references (the actuator stays alive) and ends
       * if the call ever returns; samepaged exits without it */
      g_thread_unref (thread);
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                   "The %s actuator did not finish putting back what it changed within %u s "
                   "(a call it made does not return): left as it is",
                   sp_actuator_get_name (self), (timeout_ms + 999) / 1000);
    }
  restore_job_release (job);
  return ok;
}

gboolean
sp_actuator_restore_within (SpActuator *self, guint timeout_ms, GError **error)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return run_within (self, FALSE, timeout_ms, error);
}

gboolean
sp_actuator_leave_within (SpActuator *self, guint timeout_ms, GError **error)
{
  g_return_val_if_fail (SP_IS_ACTUATOR (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  return run_within (self, TRUE, timeout_ms, error);
}
