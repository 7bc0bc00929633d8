/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-mem-merge"

#include "sp-mem-merge.h"

#include "sp-domain-define.h"
#include "sp-domain-editor.h"
#include "sp-domain-xml.h"
#include "sp-error.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"

typedef struct {
  virConnectPtr conn;
  char *domain; /* as asked: a name or a UUID */
  gboolean enabled;
  char *caller;
  char *name;                        /* the domain's name, once found */
  char uuid[VIR_UUID_STRING_BUFLEN]; /* and its UUID ("" if libvirt cannot say) */
} MergeJob;

/* The job's UUID for a journal field, NULL when libvirt could not say. */
#define JOB_UUID(job) ((job)->uuid[0] != '\0' ? (job)->uuid : NULL)

static void
merge_job_free (MergeJob *job)
{
  if (job->conn != NULL)
    virConnectClose (job->conn);
  g_free (job->domain);
  g_free (job->caller);
  g_free (job->name);
  g_free (job);
}

static const char *
on_off (gboolean merging)
{
  return merging ? "on" : "off";
}

/* ---- worker thread ---------------------------------------------------- */

static gboolean
parse_facts (MergeJob *job, const char *xml, SpDomainXmlFacts *facts, GError **error)
{
  if (!sp_domain_xml_parse (xml, facts, error))
    {
      g_prefix_error (error, "Domain %s: ", job->name);
      return FALSE;
    }
  return TRUE;
}

/*
 * Why KSM can never merge this guest whatever <nosharepages/> says, or NULL.
 * Toggling such a guest is refused both ways: "on" would promise merging
 * that cannot happen, "off" would pretend to take away something the guest
 * never had.
 */
static const char *
never_mergeable_reason (const SpDomainXmlFacts *facts)
{
  SpDomainXmlFacts probe = *facts; /* shallow: only read */

  probe.nosharepages = FALSE;
  return sp_domain_xml_unmergeable_reason (&probe);
}

/* SpDomainEditFunc: <nosharepages/> as the job wants it. */
static gboolean
edit_nosharepages (const SpDomainDefineTarget *target, const char *xml, char **new_xml,
                   gpointer user_data, GError **error)
{
  MergeJob *job = user_data;
  g_auto (SpDomainXmlFacts) facts = { 0 };
  const char *reason;

  if (!parse_facts (job, xml, &facts, error))
    return FALSE;
  reason = never_mergeable_reason (&facts);
  if (reason != NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_UNMERGEABLE,
                   "Merging can never happen for domain %s: %s", job->name, reason);
      return FALSE;
    }
  if (!sp_domain_editor_set_nosharepages (xml, !job->enabled, new_xml, error))
    {
      g_prefix_error (error, "Cannot edit the XML of domain %s: ", job->name);
      return FALSE;
    }
  return TRUE;
}

static gboolean
set_nosharepages (MergeJob *job, const SpDomainDefineTarget *target, GCancellable *cancellable,
                  SpMemMergeResult *result, GError **error)
{
  const char *name = job->name;

  if (!sp_domain_define_edit (target, edit_nosharepages, job, cancellable, &result->changed, error))
    return FALSE;
  if (!result->changed)
    sp_log_domain (G_LOG_LEVEL_DEBUG, name, JOB_UUID (job),
                   "Memory merging of domain %s is already %s: nothing to define", name,
                   on_off (job->enabled));
  else
    sp_log_domain (G_LOG_LEVEL_MESSAGE, name, JOB_UUID (job),
                   "Memory merging of domain %s (persistent config): %s → %s, asked by %s", name,
                   on_off (!job->enabled), on_off (job->enabled),
                   job->caller != NULL ? job->caller : "an unknown caller");
  return TRUE;
}

/* Whether it runs, and then whether with the other setting. */
static gboolean
read_running_state (MergeJob *job, const SpDomainDefineTarget *target, SpMemMergeResult *result,
                    GError **error)
{
  g_auto (SpDomainXmlFacts) live = { 0 };
  g_autofree char *xml = NULL;
  int active = virDomainIsActive (target->dom);

  if (active < 0)
    {
      sp_domain_define_set_error (error, job->name, "query", SP_DOMAIN_DEFINE_GONE);
      return FALSE;
    }
  result->active = active == 1;
  result->pending_restart = FALSE;
  if (!result->active)
    return TRUE;
  xml = sp_domain_define_read_xml (target, 0, error);
  if (xml == NULL || !parse_facts (job, xml, &live, error))
    return FALSE;
  result->pending_restart = live.nosharepages != !job->enabled;
  if (result->changed && result->pending_restart)
    sp_log_domain (G_LOG_LEVEL_MESSAGE, job->name, JOB_UUID (job),
                   "Domain %s runs with memory merging %s until its next cold start (a guest "
                   "reboot is not enough)",
                   job->name, on_off (!live.nosharepages));
  return TRUE;
}

static void
set_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  MergeJob *job = task_data;
  g_autoptr (virDomain) dom = NULL;
  g_autoptr (GError) error = NULL;
  SpMemMergeResult result = { 0 };
  SpDomainDefineTarget target = { .conn = job->conn, .what = "memory merging" };

  dom = sp_domain_define_lookup (job->conn, job->domain, &error);
  if (dom == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  job->name = g_strdup (virDomainGetName (dom));
  if (virDomainGetUUIDString (dom, job->uuid) < 0)
    job->uuid[0] = '\0';
  target.dom = dom;
  target.name = job->name;
  target.uuid = JOB_UUID (job);
  if (!sp_domain_define_check_persistent (&target, &error) ||
      !set_nosharepages (job, &target, cancellable, &result, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* the change is made: a failure to read the running state is only logged */
  if (!read_running_state (job, &target, &result, &error))
    sp_log_domain (G_LOG_LEVEL_WARNING, job->name, JOB_UUID (job),
                   "Memory merging of domain %s: %s", job->name, error->message);
  g_task_return_pointer (task, g_memdup2 (&result, sizeof (result)), g_free);
}

/* ---- calling thread ---------------------------------------------------- */

static void
set_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  g_autoptr (GError) error = NULL;
  const MergeJob *job = g_task_get_task_data (G_TASK (res));
  SpMemMergeResult *result = g_task_propagate_pointer (G_TASK (res), &error);

  if (result == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  /* committed-memory accounting follows the new config at once (the
   * DEFINED event would trigger this too, when libvirt delivers it); the
   * define is done, so the next refresh to start sees it */
  result->refresh_serial = sp_libvirt_get_next_refresh_serial (SP_LIBVIRT (source));
  if (result->changed && job->uuid[0] != '\0')
    sp_libvirt_queue_refresh_domain (SP_LIBVIRT (source), job->uuid);
  else if (result->changed)
    sp_libvirt_queue_refresh (SP_LIBVIRT (source));
  g_task_return_pointer (task, result, g_free);
}

void
sp_mem_merge_set_async (SpLibvirt *libvirt, const char *domain, gboolean enabled,
                        const char *caller, GCancellable *cancellable, GAsyncReadyCallback callback,
                        gpointer user_data)
{
  g_autoptr (GTask) task = NULL;
  g_autoptr (GTask) worker = NULL;
  virConnectPtr conn;
  MergeJob *job;

  g_return_if_fail (SP_IS_LIBVIRT (libvirt));
  g_return_if_fail (domain != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (libvirt, cancellable, callback, user_data);
  g_task_set_source_tag (task, sp_mem_merge_set_async);
  /* once defined, the change is reported even if cancelled meanwhile */
  g_task_set_check_cancellable (task, FALSE);

  if (domain[0] == '\0')
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_INVALID_ARGS, "No domain given");
      return;
    }
  conn = sp_libvirt_ref_connection (libvirt);
  if (conn == NULL)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_NOT_CONNECTED,
                               "Not connected to libvirt: cannot change domain %s", domain);
      return;
    }

  job = g_new0 (MergeJob, 1);
  job->conn = conn;
  job->domain = g_strdup (domain);
  job->enabled = enabled;
  job->caller = g_strdup (caller);

  worker = g_task_new (libvirt, cancellable, set_done, g_steal_pointer (&task));
  g_task_set_source_tag (worker, sp_mem_merge_set_async);
  g_task_set_check_cancellable (worker, FALSE);
  g_task_set_task_data (worker, job, (GDestroyNotify) merge_job_free);
  g_task_run_in_thread (worker, set_thread);
}

gboolean
sp_mem_merge_set_finish (GAsyncResult *res, SpMemMergeResult *result, GError **error)
{
  g_autofree SpMemMergeResult *r = NULL;

  g_return_val_if_fail (G_IS_TASK (res), FALSE);
  g_return_val_if_fail (g_async_result_is_tagged (res, sp_mem_merge_set_async), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  r = g_task_propagate_pointer (G_TASK (res), error);
  if (r == NULL)
    return FALSE;
  if (result != NULL)
    *result = *r;
  return TRUE;
}

/* ---- SpMemMerge: the D-Bus SetMemMerge ---------------------------------- */

struct _SpMemMerge {
  GObject parent_instance;

  SpLibvirt *libvirt;
  gboolean dry_run;
};

G_DEFINE_TYPE (SpMemMerge, sp_mem_merge, G_TYPE_OBJECT)

static void
sp_mem_merge_dispose (GObject *object)
{
  SpMemMerge *self = SP_MEM_MERGE (object);

  g_clear_object (&self->libvirt);
  G_OBJECT_CLASS (sp_mem_merge_parent_class)->dispose (object);
}

static void
sp_mem_merge_class_init (SpMemMergeClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = sp_mem_merge_dispose;
}

static void
sp_mem_merge_init (SpMemMerge *self)
{
}

SpMemMerge *
sp_mem_merge_new (SpLibvirt *libvirt)
{
  SpMemMerge *self;

  g_return_val_if_fail (SP_IS_LIBVIRT (libvirt), NULL);

  self = g_object_new (SP_TYPE_MEM_MERGE, NULL);
  self->libvirt = g_object_ref (libvirt);
  return self;
}

void
sp_mem_merge_set_dry_run (SpMemMerge *self, gboolean dry_run)
{
  g_return_if_fail (SP_IS_MEM_MERGE (self));
  self->dry_run = dry_run;
}

static void
on_change_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = G_TASK (user_data);

  sp_libvirt_wait_refreshed_finish (SP_LIBVIRT (source), result);
  g_task_return_boolean (task, TRUE);
  g_object_unref (task);
}

static void
on_change_set (GObject *source, GAsyncResult *result, gpointer user_data)
{
  GTask *task = G_TASK (user_data);
  SpMemMerge *self = g_task_get_source_object (task);
  GError *error = NULL;
  SpMemMergeResult outcome = { 0 };

  if (!sp_mem_merge_set_finish (result, &outcome, &error))
    {
      g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  if (!outcome.changed)
    {
      g_task_return_boolean (task, TRUE);
      g_object_unref (task);
      return;
    }
  /* sp_mem_merge_set queued a refresh before this callback: wait for it */
  sp_libvirt_wait_refreshed_async (self->libvirt, outcome.refresh_serial,
                                   SP_MEM_MERGE_REFRESH_TIMEOUT_S, "SetMemMerge",
                                   on_change_refreshed, task);
}

void
sp_mem_merge_change_async (SpMemMerge *self, const char *domain, gboolean enabled,
                           const char *caller, GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task;

  g_return_if_fail (SP_IS_MEM_MERGE (self));
  g_return_if_fail (domain != NULL);

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_mem_merge_change_async);
  if (self->dry_run)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_FAILED, "samepaged runs with --dry-run");
      g_object_unref (task);
      return;
    }
  /* the reference of task goes to on_change_set, then to the refresh wait */
  sp_mem_merge_set_async (self->libvirt, domain, enabled, caller, NULL, on_change_set, task);
}

gboolean
sp_mem_merge_change_finish (SpMemMerge *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
