/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-knobs"

#include "sp-ksm-unmerge.h"

#include "sp-error.h"
#include "sp-str.h"

gboolean
sp_ksm_unmerge_check (const SpKsmState *ksm, const SpMeminfo *mem, guint64 threshold_kib,
                      guint64 page_kib, GError **error)
{
  gint64 sharing = sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARING);
  guint64 unmerge_kib = (guint64) MAX (sharing, 0) * page_kib;
  g_autofree char *unmerge_s = NULL;
  g_autofree char *thres_s = NULL;
  g_autofree char *avail_s = NULL;
  g_autofree char *need_s = NULL;

  g_return_val_if_fail (ksm != NULL, FALSE);
  g_return_val_if_fail (mem != NULL, FALSE);

  if (unmerge_kib + threshold_kib <= mem->available_kib)
    return TRUE;
  unmerge_s = sp_format_kib ((gint64) unmerge_kib);
  thres_s = sp_format_kib ((gint64) threshold_kib);
  avail_s = sp_format_kib ((gint64) mem->available_kib);
  need_s = sp_format_kib ((gint64) (unmerge_kib + threshold_kib));
  g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
               "Refusing to unmerge: splitting the %" G_GINT64_FORMAT
               " merged pages needs %s (%" G_GINT64_FORMAT " pages_sharing × %" G_GUINT64_FORMAT
               " KiB) plus the threshold %s = %s, but MemAvailable is %s",
               sharing, unmerge_s, sharing, page_kib, thres_s, need_s, avail_s);
  return FALSE;
}

typedef struct {
  SpKsmActuator *actuator;
  char *sysfs_root;
  SpKsmUnmergeOptions options;
  gint64 run_before;
  gint64 shared_at_start;
  gint64 start_us;
  gint64 last_progress_us;
  guint poll_id;
  gboolean write_done;
  GError *write_error;
  GTask *task; /* the caller's, until it is answered */
} Unmerge;

static void
unmerge_clear (gpointer data)
{
  Unmerge *u = data;

  g_clear_handle_id (&u->poll_id, g_source_remove);
  g_clear_object (&u->actuator);
  g_free (u->sysfs_root);
  g_clear_error (&u->write_error);
  g_clear_object (&u->task);
}

static Unmerge *
unmerge_ref (Unmerge *u)
{
  return g_rc_box_acquire (u);
}

static void
unmerge_unref (Unmerge *u)
{
  g_rc_box_release_full (u, unmerge_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Unmerge, unmerge_unref)

/* The hold ends when both the answer is given and the run=2 write returned
 * (a later write of run would wait for the kernel's unmerge, on the main
 * loop). */
static void
release_if_done (Unmerge *u)
{
  if (u->task == NULL && u->write_done)
    sp_ksm_actuator_set_held (u->actuator, FALSE);
}

static void
answer (Unmerge *u, GError *error)
{
  g_autoptr (GTask) task = g_steal_pointer (&u->task);

  g_clear_handle_id (&u->poll_id, g_source_remove);
  release_if_done (u);
  if (error != NULL)
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

/* run back as it was (merge_across_nodes asked: the operator did not ask
 * for an unmerge). */
static void
put_back_run (Unmerge *u)
{
  g_autoptr (GError) error = NULL;

  if (u->run_before == SP_KSM_RUN_UNMERGE)
    return;
  if (!sp_ksm_write (u->sysfs_root, SP_KSM_RUN, u->run_before, &error))
    g_warning ("Cannot put run back to %" G_GINT64_FORMAT ": %s", u->run_before, error->message);
}

static void
finish_unmerged (Unmerge *u, const SpKsmState *ksm)
{
  GError *error = NULL;
  gint64 value = u->options.merge_across_nodes;

  if (value < 0)
    {
      g_message ("Unmerged every page KSM had merged (%" G_GINT64_FORMAT " shared at the start)",
                 u->shared_at_start);
      answer (u, NULL);
      return;
    }
  if (sp_ksm_state_get (ksm, SP_KSM_MERGE_ACROSS_NODES) != value &&
      !sp_ksm_write (u->sysfs_root, SP_KSM_MERGE_ACROSS_NODES, value, &error))
    {
      GError *failed = g_error_new (SP_ERROR, SP_ERROR_FAILED,
                                    "The kernel refused merge_across_nodes = %" G_GINT64_FORMAT
                                    " after unmerging: %s",
                                    value, error->message);

      g_clear_error (&error);
      put_back_run (u);
      answer (u, failed);
      return;
    }
  put_back_run (u);
  g_message ("merge_across_nodes set to %" G_GINT64_FORMAT " after unmerging %" G_GINT64_FORMAT
             " shared pages; run back to %" G_GINT64_FORMAT,
             value, u->shared_at_start, u->run_before);
  answer (u, NULL);
}

static gboolean
on_poll (gpointer user_data)
{
  Unmerge *u = user_data;
  g_autoptr (GError) error = NULL;
  SpKsmState ksm = { 0 };
  gint64 now_us = g_get_monotonic_time ();
  gint64 shared;

  if (u->write_done && u->write_error != NULL)
    {
      u->poll_id = 0;
      answer (u, g_error_new (SP_ERROR, SP_ERROR_FAILED, "Cannot unmerge (run = 2): %s",
                              u->write_error->message));
      return G_SOURCE_REMOVE;
    }
  if (!sp_ksm_read (u->sysfs_root, &ksm, &error))
    {
      u->poll_id = 0;
      if (u->options.merge_across_nodes >= 0)
        put_back_run (u);
      answer (u, g_error_new (SP_ERROR, SP_ERROR_FAILED, "Cannot read KSM while unmerging: %s",
                              error->message));
      return G_SOURCE_REMOVE;
    }
  shared = sp_ksm_state_get (&ksm, SP_KSM_PAGES_SHARED);
  if (u->write_done && shared == 0)
    {
      u->poll_id = 0;
      finish_unmerged (u, &ksm);
      return G_SOURCE_REMOVE;
    }
  if (now_us - u->start_us >= (gint64) u->options.timeout_ms * 1000)
    {
      u->poll_id = 0;
      if (u->options.merge_across_nodes >= 0)
        put_back_run (u);
      answer (u, g_error_new (
                     SP_ERROR, SP_ERROR_FAILED,
                     "KSM still shares %" G_GINT64_FORMAT " pages after %u s of "
                     "unmerging (%" G_GINT64_FORMAT " at the start)%s",
                     shared, u->options.timeout_ms / 1000, u->shared_at_start,
                     u->options.merge_across_nodes >= 0 ? "; merge_across_nodes not changed" : ""));
      return G_SOURCE_REMOVE;
    }
  if (now_us - u->last_progress_us >= SP_KSM_UNMERGE_PROGRESS_S * G_USEC_PER_SEC)
    {
      u->last_progress_us = now_us;
      g_message ("Unmerging: %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT
                 " pages still shared after %" G_GINT64_FORMAT " s",
                 shared, u->shared_at_start, (now_us - u->start_us) / G_USEC_PER_SEC);
    }
  return G_SOURCE_CONTINUE;
}

static void
write_run_in_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  GError *error = NULL;

  if (!sp_ksm_write (task_data, SP_KSM_RUN, SP_KSM_RUN_UNMERGE, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_run_written (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (Unmerge) u = user_data;

  u->write_done = TRUE;
  g_task_propagate_boolean (G_TASK (result), &u->write_error);
  release_if_done (u);
}

void
sp_ksm_unmerge_async (SpKsmActuator *actuator, const char *sysfs_root,
                      const SpKsmUnmergeOptions *options, GAsyncReadyCallback callback,
                      gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) writer = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (Unmerge) u = NULL;
  SpKsmState ksm = { 0 };

  g_return_if_fail (SP_IS_KSM_ACTUATOR (actuator));
  g_return_if_fail (sysfs_root != NULL);
  g_return_if_fail (options != NULL);

  task = g_task_new (actuator, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_ksm_unmerge_async);

  if (!sp_ksm_read (sysfs_root, &ksm, &error))
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_FAILED, "Cannot read KSM: %s",
                               error->message);
      return;
    }
  if (!ksm.available || !sp_ksm_state_has (&ksm, SP_KSM_RUN))
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_KSM_UNAVAILABLE,
                               "KSM is not available on this kernel");
      return;
    }
  if (options->merge_across_nodes >= 0 && !sp_ksm_state_has (&ksm, SP_KSM_MERGE_ACROSS_NODES))
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                               "merge_across_nodes is not supported by this kernel (no "
                               "kernel/mm/ksm/merge_across_nodes: built without NUMA)");
      return;
    }
  if (sp_ksm_actuator_is_held (actuator))
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_CONFLICT,
                               "An unmerge is already in progress");
      return;
    }

  u = g_rc_box_new0 (Unmerge);
  u->actuator = g_object_ref (actuator);
  u->sysfs_root = g_strdup (sysfs_root);
  u->options = *options;
  if (u->options.timeout_ms == 0)
    u->options.timeout_ms = SP_KSM_UNMERGE_TIMEOUT_S * 1000;
  if (u->options.poll_ms == 0)
    u->options.poll_ms = SP_KSM_UNMERGE_POLL_MS;
  u->run_before = sp_ksm_state_get (&ksm, SP_KSM_RUN);
  u->shared_at_start = sp_ksm_state_get (&ksm, SP_KSM_PAGES_SHARED);
  u->start_us = u->last_progress_us = g_get_monotonic_time ();
  u->task = g_steal_pointer (&task);

  sp_ksm_actuator_set_held (actuator, TRUE);
  sp_ksm_actuator_record (actuator, &ksm, SP_KSM_RUN, SP_KSM_RUN_UNMERGE);
  g_message ("Unmerging every page KSM merged (run = 2): %" G_GINT64_FORMAT
             " shared, %" G_GINT64_FORMAT " sharing%s",
             u->shared_at_start, sp_ksm_state_get (&ksm, SP_KSM_PAGES_SHARING),
             options->merge_across_nodes >= 0 ? ", to change merge_across_nodes" : "");

  /* the kernel unmerges inside the write: a worker waits for it */
  writer = g_task_new (NULL, NULL, on_run_written, unmerge_ref (u));
  g_task_set_source_tag (writer, write_run_in_thread);
  g_task_set_task_data (writer, g_strdup (sysfs_root), g_free);
  g_task_run_in_thread (writer, write_run_in_thread);
  u->poll_id = g_timeout_add_full (G_PRIORITY_DEFAULT, u->options.poll_ms, on_poll, unmerge_ref (u),
                                   (GDestroyNotify) unmerge_unref);
}

gboolean
sp_ksm_unmerge_finish (GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == sp_ksm_unmerge_async, FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
