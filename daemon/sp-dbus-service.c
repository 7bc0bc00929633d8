/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "config.h"

#include "sp-dbus-service.h"

#include <string.h>

#include "sp-authority.h"
#include "sp-dbus-interface.h"
#include "sp-error.h"
#include "sp-str.h"
#include "sp-names.h"
#include "sp-resources.h"
#include "sp-tuner.h"

#define SP_INTROSPECTION_RESOURCE "/org/samepage1/org.samepage1.Manager.xml"

/* ------------------------------------------------------------------------ */

struct _SpDbusService {
  GObject parent_instance;

  SpDaemon *daemon; /* not referenced: it owns the service */
  SpTuner *tuner;
  SpAuthority *authority;
  GCancellable *cancellable; /* of pending authorizations */

  GDBusNodeInfo *introspection;
  SpDbusInterface *manager;
  GDBusObjectManagerServer *object_manager;
  GHashTable *domains; /* object path → SpDbusInterface */
  SpGuests *guests;    /* what the domain objects show */
  GDBusConnection *connection;

  SpMemMergeFunc mem_merge_func;
  gpointer mem_merge_data;
  GDestroyNotify mem_merge_destroy;

  GPtrArray *calls;  /* MethodCall*: method calls not answered yet */
  gboolean stopping; /* new calls are refused */
  GTask *drain;      /* completes when calls is empty (or on timeout) */
  guint drain_timeout_id;
};

G_DEFINE_TYPE (SpDbusService, sp_dbus_service, G_TYPE_OBJECT)

static void
add (GVariantBuilder *builder, const char *name, GVariant *value)
{
  g_variant_builder_add (builder, "{sv}", name, value);
}

/* Counters the kernel keeps as unsigned, read into a gint64. */
static GVariant *
new_unsigned (gint64 value)
{
  return g_variant_new_uint64 (value < 0 ? 0 : (guint64) value);
}

static GVariant *
ksm_files (const SpKsmState *ksm)
{
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sx}"));
  for (guint field = 0; field < SP_KSM_N_FIELDS; field++)
    if (sp_ksm_state_has (ksm, field))
      g_variant_builder_add (&builder, "{sx}", sp_ksm_field_name (field), ksm->values[field]);
  return g_variant_builder_end (&builder);
}

/* Every property of org.samepage1.Manager: the last snapshot, and the config
 * in effect (a setter's change shows even when no decision could follow). */
static GVariant *
manager_properties (const SpSnapshot *snapshot, const SpConfig *config)
{
  const SpKsmState *ksm = &snapshot->ksm;
  const SpDecision *decision = &snapshot->decision;
  const SpGuests *guests = snapshot->guests;
  const char *advisor = "";
  GVariantBuilder b;

  if (sp_ksm_state_has_advisor (ksm))
    advisor = sp_ksm_advisor_mode_to_string (sp_ksm_state_get (ksm, SP_KSM_ADVISOR_MODE));

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add (&b, "Version", g_variant_new_string (PACKAGE_VERSION));
  add (&b, "ApiVersion", g_variant_new_uint32 (SP_DBUS_API_VERSION));
  add (&b, "Mode", g_variant_new_string (sp_mode_to_string (config->mode)));
  add (&b, "DryRun", g_variant_new_boolean (snapshot->dry_run));
  add (&b, "KsmAvailable", g_variant_new_boolean (ksm->available));
  add (&b, "Run",
       g_variant_new_uint32 ((guint32) CLAMP (sp_ksm_state_get (ksm, SP_KSM_RUN), 0, G_MAXUINT32)));
  add (&b, "PagesToScan", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_TO_SCAN)));
  add (&b, "SleepMillisecs", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_SLEEP_MILLISECS)));
  add (&b, "PagesShared", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARED)));
  add (&b, "PagesSharing", new_unsigned (sp_ksm_state_get (ksm, SP_KSM_PAGES_SHARING)));
  add (&b, "GeneralProfit", g_variant_new_int64 (sp_ksm_state_get (ksm, SP_KSM_GENERAL_PROFIT)));
  add (&b, "SavedKiB", g_variant_new_uint64 (sp_ksm_state_saved_kib (ksm)));
  add (&b, "AdvisorMode", g_variant_new_string (advisor));
  add (&b, "KsmFiles", ksm_files (ksm));
  add (&b, "MemTotalKiB", g_variant_new_uint64 (snapshot->mem.total_kib));
  add (&b, "MemAvailableKiB", g_variant_new_uint64 (snapshot->mem.available_kib));
  add (&b, "FreeKiB", g_variant_new_uint64 (decision->free_kib));
  add (&b, "CommittedKiB", g_variant_new_uint64 (guests->committed_kib));
  add (&b, "ThresholdKiB", g_variant_new_uint64 (decision->threshold_kib));
  add (&b, "LibvirtUri", g_variant_new_string (guests->uri ? guests->uri : ""));
  add (&b, "LibvirtConnected", g_variant_new_boolean (guests->connected));
  add (&b, "LibvirtStatus", g_variant_new_string (guests->status ? guests->status : ""));
  add (&b, "DomainsActive", g_variant_new_uint32 (guests->n_active));
  add (&b, "LastAction", g_variant_new_string (sp_action_to_string (decision->action)));
  add (&b, "LastReason", g_variant_new_string (decision->reason ? decision->reason : ""));
  add (&b, "LastDecisionTime", new_unsigned (snapshot->time_us));
  add (&b, "Tuning", sp_config_tuning_to_variant (config));
  return g_variant_builder_end (&b);
}

/* Every property of org.samepage1.Domain. */
static GVariant *
domain_properties (const SpDomainInfo *d)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  add (&b, "Name", g_variant_new_string (d->name ? d->name : ""));
  add (&b, "Uuid", g_variant_new_string (d->uuid ? d->uuid : ""));
  add (&b, "Active", g_variant_new_boolean (d->active));
  add (&b, "Persistent", g_variant_new_boolean (d->persistent));
  add (&b, "CurrentKiB", g_variant_new_uint64 (d->current_kib));
  add (&b, "MaximumKiB", g_variant_new_uint64 (d->maximum_kib));
  add (&b, "MemorySource", g_variant_new_string (d->memory_source ? d->memory_source : ""));
  add (&b, "MemMerge", g_variant_new_boolean (d->mem_merge));
  add (&b, "MemMergeActive", g_variant_new_boolean (d->mem_merge_active));
  add (&b, "PendingRestart", g_variant_new_boolean (d->pending_restart));
  add (&b, "Mergeable", g_variant_new_boolean (d->mergeable));
  add (&b, "UnmergeableReason",
       g_variant_new_string (d->unmergeable_reason ? d->unmergeable_reason : ""));
  add (&b, "Pid", g_variant_new_int64 (d->pid));
  add (&b, "MergingPages", g_variant_new_int64 (d->ksm_merging_pages));
  add (&b, "ZeroPages", g_variant_new_int64 (d->ksm_zero_pages));
  add (&b, "ProcessProfit", g_variant_new_int64 (d->ksm_process_profit));
  add (&b, "KsmMergeable", g_variant_new_string (sp_ksm_mergeable_to_string (d->ksm_mergeable)));
  return g_variant_builder_end (&b);
}

/* What this code computes must be exactly the properties of the XML, with
 * their types: checked once at start with sample values. */
static gboolean
check_properties (GDBusInterfaceInfo *info, GVariant *properties, GError **error)
{
  g_autoptr (GVariant) values = g_variant_ref_sink (properties);
  gsize n_info = 0;

  for (GDBusPropertyInfo **p = info->properties; p != NULL && *p != NULL; p++, n_info++)
    {
      g_autoptr (GVariant) value = g_variant_lookup_value (values, (*p)->name, NULL);

      if (value == NULL)
        {
          g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                       "%s.%s is in the introspection XML but samepaged has no value for it",
                       info->name, (*p)->name);
          return FALSE;
        }
      if (g_strcmp0 (g_variant_get_type_string (value), (*p)->signature) != 0)
        {
          g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                       "%s.%s has type '%s' in the introspection XML but samepaged computes '%s'",
                       info->name, (*p)->name, (*p)->signature, g_variant_get_type_string (value));
          return FALSE;
        }
    }
  if (g_variant_n_children (values) != n_info)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                   "samepaged computes %" G_GSIZE_FORMAT " properties of %s, the introspection "
                   "XML has %" G_GSIZE_FORMAT,
                   g_variant_n_children (values), info->name, n_info);
      return FALSE;
    }
  return TRUE;
}

static void
update_manager (SpDbusService *self)
{
  sp_dbus_interface_update (self->manager, manager_properties (sp_tuner_get_snapshot (self->tuner),
                                                               sp_tuner_get_config (self->tuner)));
}

/* /org/samepage1/domain/<uuid with '-' as '_'>; NULL when the UUID cannot
 * be a path element (libvirt UUIDs always can). */
static char *
domain_object_path (const char *uuid)
{
  g_autofree char *element = NULL;
  g_autofree char *path = NULL;

  if (uuid == NULL || *uuid == '\0')
    return NULL;
  element = g_strdelimit (g_strdup (uuid), "-", '_');
  path = g_strconcat (SP_DBUS_DOMAIN_PATH "/", element, NULL);
  return g_variant_is_object_path (path) ? g_steal_pointer (&path) : NULL;
}

/* One object per domain of guests: new ones exported (InterfacesAdded), gone
 * ones unexported (InterfacesRemoved), the others updated. */
static void
sync_domains (SpDbusService *self, SpGuests *guests)
{
  g_autoptr (GHashTable) present = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer path;

  for (guint i = 0; i < guests->domains->len; i++)
    {
      const SpDomainInfo *domain = g_ptr_array_index (guests->domains, i);
      g_autofree char *object_path = domain_object_path (domain->uuid);
      SpDbusInterface *iface;

      if (object_path == NULL)
        {
          g_debug ("Domain %s has no usable UUID: not exported", domain->name);
          continue;
        }
      iface = g_hash_table_lookup (self->domains, object_path);
      if (iface == NULL)
        {
          g_autoptr (GDBusObjectSkeleton) object = g_dbus_object_skeleton_new (object_path);

          iface = sp_dbus_interface_new (
              g_dbus_node_info_lookup_interface (self->introspection, SP_DBUS_INTERFACE_DOMAIN),
              NULL, NULL);
          sp_dbus_interface_update (iface, domain_properties (domain));
          g_dbus_object_skeleton_add_interface (object, G_DBUS_INTERFACE_SKELETON (iface));
          g_dbus_object_manager_server_export (self->object_manager, object);
          g_hash_table_insert (self->domains, g_strdup (object_path), iface);
        }
      else
        sp_dbus_interface_update (iface, domain_properties (domain));
      g_hash_table_add (present, g_steal_pointer (&object_path));
    }

  g_hash_table_iter_init (&iter, self->domains);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      if (g_hash_table_contains (present, path))
        continue;
      g_dbus_object_manager_server_unexport (self->object_manager, path);
      g_hash_table_iter_remove (&iter);
    }

  g_clear_pointer (&self->guests, sp_guests_unref);
  self->guests = sp_guests_ref (guests);
}

static void
emit_tuned (SpDbusService *self, const SpSnapshot *snapshot)
{
  const SpDecision *decision = &snapshot->decision;
  g_autoptr (GError) error = NULL;

  if (self->connection == NULL)
    return;
  if (!g_dbus_connection_emit_signal (
          self->connection, NULL, SP_DBUS_PATH, SP_DBUS_INTERFACE_MANAGER, "Tuned",
          g_variant_new ("(sst)", sp_action_to_string (decision->action),
                         decision->reason ? decision->reason : "",
                         (guint64) MAX (snapshot->time_us, 0)),
          &error))
    g_debug ("Cannot emit Tuned: %s", error->message);
}

static void
on_tuned (SpTuner *tuner, gpointer snapshot_ptr, gpointer user_data)
{
  SpDbusService *self = SP_DBUS_SERVICE (user_data);
  SpSnapshot *snapshot = snapshot_ptr;

  update_manager (self);
  if (snapshot->guests != self->guests)
    sync_domains (self, snapshot->guests);
  emit_tuned (self, snapshot);
}

/* ------------------------------------------------------------------------ */
/* Methods of org.samepage1.Manager: check the arguments, authorize, run. */

typedef struct {
  const char *name;
  const char *action_id;
  /* Rejects bad arguments before anybody is asked for a password; NULL: none. */
  gboolean (*check) (SpDbusService *self, GVariant *parameters, GError **error);
  /* Does it, completing task with TRUE or an error, now or later. caller:
   * "uid 0 (:1.42)". */
  void (*run) (SpDbusService *self, GVariant *parameters, const char *caller, GTask *task);
} SpMethod;

typedef struct {
  SpDbusService *self;
  GDBusMethodInvocation *invocation; /* until answered */
  const SpMethod *method;
  char *caller; /* once authorized */
} MethodCall;

static void drain_check (SpDbusService *self);

static MethodCall *
method_call_new (SpDbusService *self, GDBusMethodInvocation *invocation, const SpMethod *method)
{
  MethodCall *call = g_new0 (MethodCall, 1);

  call->self = g_object_ref (self);
  call->invocation = invocation;
  call->method = method;
  g_ptr_array_add (self->calls, call);
  return call;
}

static void
method_call_free (MethodCall *call)
{
  SpDbusService *self = call->self;

  /* every path answers before freeing */
  g_warn_if_fail (call->invocation == NULL);
  g_ptr_array_remove_fast (self->calls, call);
  g_free (call->caller);
  g_free (call);
  drain_check (self);
  g_object_unref (self);
}

static void
method_call_fail (MethodCall *call, const GError *error)
{
  /* answered already when samepaged stopped waiting for it */
  if (call->invocation != NULL)
    sp_dbus_return_error (g_steal_pointer (&call->invocation), error);
  method_call_free (call);
}

static GError *
stopping_error (const char *method)
{
  return g_error_new (SP_ERROR, SP_ERROR_FAILED,
                      "samepaged is stopping: %s was not run, try again once it is back", method);
}

static void
task_return (GTask *task, gboolean ok, GError *error)
{
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static gboolean
check_set_tuning (SpDbusService *self, GVariant *parameters, GError **error)
{
  g_autoptr (GVariant) settings = g_variant_get_child_value (parameters, 0);

  return sp_daemon_check_tuning (self->daemon, settings, error);
}

static void
run_set_tuning (SpDbusService *self, GVariant *parameters, const char *caller, GTask *task)
{
  g_autoptr (GVariant) settings = g_variant_get_child_value (parameters, 0);
  GError *error = NULL;

  task_return (task, sp_daemon_set_tuning (self->daemon, settings, &error), error);
}

static gboolean
parse_mode (GVariant *parameters, SpMode *mode, GError **error)
{
  const char *str;
  g_autofree char *quoted = NULL;

  g_variant_get (parameters, "(&s)", &str);
  if (sp_mode_from_string (str, mode))
    return TRUE;
  quoted = sp_quote (str);
  g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
               "Unknown mode %s (expected auto, always or never)", quoted);
  return FALSE;
}

static gboolean
check_set_mode (SpDbusService *self, GVariant *parameters, GError **error)
{
  SpMode mode;

  return parse_mode (parameters, &mode, error);
}

static void
run_set_mode (SpDbusService *self, GVariant *parameters, const char *caller, GTask *task)
{
  GError *error = NULL;
  SpMode mode = SP_MODE_AUTO;
  gboolean ok = parse_mode (parameters, &mode, &error);

  if (ok)
    ok = sp_daemon_set_mode (self->daemon, mode, &error);
  task_return (task, ok, error);
}

static void
run_retune (SpDbusService *self, GVariant *parameters, const char *caller, GTask *task)
{
  guint64 n_decisions = sp_tuner_get_n_decisions (self->tuner);

  sp_tuner_retune (self->tuner);
  if (sp_tuner_get_n_decisions (self->tuner) == n_decisions)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_FAILED,
                               "No decision could be made: samepaged cannot read the KSM or "
                               "memory state (see its log)");
      return;
    }
  g_task_return_boolean (task, TRUE);
}

/* The domain of SetMemMerge's arguments, in the last snapshot. */
static const SpDomainInfo *
find_domain (SpDbusService *self, GVariant *parameters, GError **error)
{
  const SpGuests *guests = sp_tuner_get_snapshot (self->tuner)->guests;
  const SpDomainInfo *domain;
  g_autofree char *quoted = NULL;
  const char *name;
  gboolean enabled;

  g_variant_get (parameters, "(&sb)", &name, &enabled);
  if (*name == '\0' || !g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "The domain must be given by its name or UUID (a non-empty UTF-8 "
                           "string)");
      return NULL;
    }
  domain = sp_guests_find (guests, name);
  if (domain != NULL)
    return domain;
  quoted = sp_quote (name);
  g_set_error (error, SP_ERROR, SP_ERROR_UNKNOWN_DOMAIN,
               "No domain named %s or with that UUID (%u domains known%s)", quoted,
               guests->domains->len, guests->connected ? "" : "; libvirt is not connected");
  return NULL;
}

static gboolean
check_set_mem_merge (SpDbusService *self, GVariant *parameters, GError **error)
{
  return find_domain (self, parameters, error) != NULL;
}

static void
run_set_mem_merge (SpDbusService *self, GVariant *parameters, const char *caller, GTask *task)
{
  GError *error = NULL;
  const SpDomainInfo *domain;
  const char *name;
  gboolean enabled;

  /* the domain may have gone while polkit was asked */
  domain = find_domain (self, parameters, &error);
  if (domain == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (self->mem_merge_func == NULL)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                               "SetMemMerge is not supported by samepaged %s yet; edit the "
                               "domain with virsh edit (<memoryBacking><nosharepages/>)",
                               PACKAGE_VERSION);
      return;
    }
  g_variant_get (parameters, "(&sb)", &name, &enabled);
  self->mem_merge_func (domain, enabled, caller, task, self->mem_merge_data);
}

static const SpMethod manager_methods[] = {
  { "SetTuning", SP_POLKIT_ACTION_CONFIGURE, check_set_tuning, run_set_tuning },
  { "SetMode", SP_POLKIT_ACTION_CONFIGURE, check_set_mode, run_set_mode },
  { "Retune", SP_POLKIT_ACTION_CONFIGURE, NULL, run_retune },
  { "SetMemMerge", SP_POLKIT_ACTION_SET_MEM_MERGE, check_set_mem_merge, run_set_mem_merge },
};

static void
on_method_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  MethodCall *call = user_data;
  GDBusMethodInvocation *invocation = call->invocation;
  g_autoptr (GError) error = NULL;
  g_autofree char *arguments = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      method_call_fail (call, error);
      return;
    }
  if (invocation == NULL)
    {
      g_message ("%s by %s: done, after samepaged stopped waiting for it", call->method->name,
                 call->caller);
      method_call_free (call);
      return;
    }
  arguments = g_variant_print (g_dbus_method_invocation_get_parameters (invocation), FALSE);
  g_message ("%s%s by %s: done", call->method->name, arguments, call->caller);

  /* the config in effect shows at once, even if no decision followed */
  update_manager (call->self);
  g_dbus_method_invocation_return_value (g_steal_pointer (&call->invocation), NULL);
  method_call_free (call);
}

static void
on_authorized (GObject *source, GAsyncResult *result, gpointer user_data)
{
  MethodCall *call = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GTask) task = NULL;
  guint32 uid;

  if (!sp_authority_check_finish (SP_AUTHORITY (source), result, &uid, &error) ||
      call->self->stopping)
    {
      if (call->self->stopping)
        {
          g_clear_error (&error);
          error = stopping_error (call->method->name);
        }
      method_call_fail (call, error);
      return;
    }
  call->caller =
      g_strdup_printf ("uid %u (%s)", uid, g_dbus_method_invocation_get_sender (call->invocation));
  task = g_task_new (call->self, NULL, on_method_done, call);
  g_task_set_source_tag (task, on_authorized);
  call->method->run (call->self, g_dbus_method_invocation_get_parameters (call->invocation),
                     call->caller, task);
}

static void
handle_manager_method (GDBusConnection *connection, const char *sender, const char *object_path,
                       const char *interface_name, const char *method_name, GVariant *parameters,
                       GDBusMethodInvocation *invocation, gpointer user_data)
{
  SpDbusService *self = SP_DBUS_SERVICE (user_data);
  const SpMethod *method = NULL;
  g_autoptr (GError) error = NULL;
  MethodCall *call;

  for (gsize i = 0; i < G_N_ELEMENTS (manager_methods); i++)
    if (g_strcmp0 (manager_methods[i].name, method_name) == 0)
      method = &manager_methods[i];
  if (method == NULL)
    {
      error = g_error_new (SP_ERROR, SP_ERROR_NOT_SUPPORTED, "%s has no method %s", interface_name,
                           method_name);
      sp_dbus_return_error (invocation, error);
      return;
    }
  if (self->stopping)
    error = stopping_error (method_name);
  else if (method->check != NULL)
    method->check (self, parameters, &error);
  if (error != NULL)
    {
      sp_dbus_return_error (invocation, error);
      return;
    }

  call = method_call_new (self, invocation, method);
  sp_authority_check_async (self->authority, invocation, method->action_id, self->cancellable,
                            on_authorized, call);
}

/* ------------------------------------------------------------------------ */
/* Stopping: the calls in flight are answered before samepaged exits. */

static void
drain_complete (SpDbusService *self)
{
  g_autoptr (GTask) task = g_steal_pointer (&self->drain);

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  if (task != NULL)
    g_task_return_boolean (task, TRUE);
}

static void
drain_check (SpDbusService *self)
{
  if (self->drain != NULL && self->calls->len == 0)
    drain_complete (self);
}

static gboolean
on_drain_timeout (gpointer user_data)
{
  SpDbusService *self = SP_DBUS_SERVICE (user_data);
  guint timeout_s = GPOINTER_TO_UINT (g_task_get_task_data (self->drain));

  self->drain_timeout_id = 0;
  for (guint i = 0; i < self->calls->len; i++)
    {
      MethodCall *call = g_ptr_array_index (self->calls, i);
      g_autoptr (GError) error = NULL;

      if (call->invocation == NULL)
        continue;
      g_warning ("Stopping with %s by %s unfinished after %u s", call->method->name,
                 call->caller != NULL ? call->caller : "an unauthorized caller", timeout_s);
      error = g_error_new (SP_ERROR, SP_ERROR_FAILED,
                           "samepaged stopped before %s finished (still waiting for libvirt "
                           "after %u s): whether it took effect is unknown; check once "
                           "samepaged is back",
                           call->method->name, timeout_s);
      sp_dbus_return_error (g_steal_pointer (&call->invocation), error);
    }
  drain_complete (self);
  return G_SOURCE_REMOVE;
}

void
sp_dbus_service_drain_async (SpDbusService *self, guint timeout_s, GAsyncReadyCallback callback,
                             gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SP_IS_DBUS_SERVICE (self));
  g_return_if_fail (self->drain == NULL);

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_dbus_service_drain_async);
  g_task_set_task_data (task, GUINT_TO_POINTER (timeout_s), NULL);
  self->stopping = TRUE;
  /* a polkit agent may wait for a password for minutes: those calls end
   * now, with the "stopping" error (on_authorized) */
  g_cancellable_cancel (self->cancellable);
  if (self->calls->len == 0)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_message ("Waiting up to %u s for %u D-Bus call(s) in progress", timeout_s, self->calls->len);
  self->drain = g_steal_pointer (&task);
  self->drain_timeout_id = g_timeout_add_seconds (timeout_s, on_drain_timeout, self);
}

gboolean
sp_dbus_service_drain_finish (SpDbusService *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ------------------------------------------------------------------------ */

static void
sp_dbus_service_dispose (GObject *object)
{
  SpDbusService *self = SP_DBUS_SERVICE (object);

  if (self->tuner != NULL)
    g_signal_handlers_disconnect_by_data (self->tuner, self);
  sp_dbus_service_unexport (self);
  sp_dbus_service_set_mem_merge_func (self, NULL, NULL, NULL);
  g_clear_pointer (&self->domains, g_hash_table_unref);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->manager);
  g_clear_object (&self->authority);
  g_clear_object (&self->tuner);
  G_OBJECT_CLASS (sp_dbus_service_parent_class)->dispose (object);
}

static void
sp_dbus_service_finalize (GObject *object)
{
  SpDbusService *self = SP_DBUS_SERVICE (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->calls, g_ptr_array_unref);
  g_clear_pointer (&self->guests, sp_guests_unref);
  g_clear_pointer (&self->introspection, g_dbus_node_info_unref);
  G_OBJECT_CLASS (sp_dbus_service_parent_class)->finalize (object);
}

static void
sp_dbus_service_class_init (SpDbusServiceClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_dbus_service_dispose;
  object_class->finalize = sp_dbus_service_finalize;
}

static void
sp_dbus_service_init (SpDbusService *self)
{
  self->cancellable = g_cancellable_new ();
  self->calls = g_ptr_array_new ();
  self->domains = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
}

/* The embedded copy of data/org.samepage1.Manager.xml. */
static GDBusNodeInfo *
load_introspection (GError **error)
{
  g_autoptr (GBytes) bytes = NULL;
  g_autofree char *xml = NULL;
  gsize size;
  const char *data;

  bytes = g_resource_lookup_data (sp_get_resource (), SP_INTROSPECTION_RESOURCE,
                                  G_RESOURCE_LOOKUP_FLAGS_NONE, error);
  if (bytes == NULL)
    return NULL;
  data = g_bytes_get_data (bytes, &size);
  xml = g_strndup (data, size);
  return g_dbus_node_info_new_for_xml (xml, error);
}

SpDbusService *
sp_dbus_service_new (SpDaemon *daemon, GError **error)
{
  g_autoptr (SpDbusService) self = g_object_new (SP_TYPE_DBUS_SERVICE, NULL);
  g_autoptr (SpDomainInfo) sample_domain = sp_domain_info_new ();
  GDBusInterfaceInfo *manager_info;
  GDBusInterfaceInfo *domain_info;
  SpSnapshot *snapshot;

  g_return_val_if_fail (SP_IS_DAEMON (daemon), NULL);

  self->introspection = load_introspection (error);
  if (self->introspection == NULL)
    return NULL;
  manager_info = g_dbus_node_info_lookup_interface (self->introspection, SP_DBUS_INTERFACE_MANAGER);
  domain_info = g_dbus_node_info_lookup_interface (self->introspection, SP_DBUS_INTERFACE_DOMAIN);
  if (manager_info == NULL || domain_info == NULL)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_FAILED,
                   "The embedded introspection XML lacks %s or %s", SP_DBUS_INTERFACE_MANAGER,
                   SP_DBUS_INTERFACE_DOMAIN);
      return NULL;
    }
  g_dbus_interface_info_cache_build (manager_info);
  g_dbus_interface_info_cache_build (domain_info);

  self->daemon = daemon;
  self->tuner = g_object_ref (sp_daemon_get_tuner (daemon));
  snapshot = sp_tuner_get_snapshot (self->tuner);
  if (!check_properties (manager_info,
                         manager_properties (snapshot, sp_tuner_get_config (self->tuner)), error) ||
      !check_properties (domain_info, domain_properties (sample_domain), error))
    return NULL;

  self->authority = sp_authority_new ();
  self->manager = sp_dbus_interface_new (manager_info, handle_manager_method, self);
  self->object_manager = g_dbus_object_manager_server_new (SP_DBUS_PATH);
  update_manager (self);
  sync_domains (self, snapshot->guests);
  g_signal_connect (self->tuner, "tuned", G_CALLBACK (on_tuned), self);
  return g_steal_pointer (&self);
}

gboolean
sp_dbus_service_export (SpDbusService *self, GDBusConnection *connection, GError **error)
{
  g_return_val_if_fail (SP_IS_DBUS_SERVICE (self), FALSE);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), FALSE);
  g_return_val_if_fail (self->connection == NULL, FALSE);

  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager), connection,
                                         SP_DBUS_PATH, error))
    return FALSE;
  g_dbus_object_manager_server_set_connection (self->object_manager, connection);
  self->connection = g_object_ref (connection);
  return TRUE;
}

void
sp_dbus_service_unexport (SpDbusService *self)
{
  g_return_if_fail (SP_IS_DBUS_SERVICE (self));

  /* pending authorizations end with an error */
  g_cancellable_cancel (self->cancellable);
  if (self->connection == NULL)
    return;
  g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  g_dbus_object_manager_server_set_connection (self->object_manager, NULL);
  g_clear_object (&self->connection);
}

void
sp_dbus_service_set_mem_merge_func (SpDbusService *self, SpMemMergeFunc func, gpointer user_data,
                                    GDestroyNotify destroy)
{
  g_return_if_fail (SP_IS_DBUS_SERVICE (self));

  if (self->mem_merge_destroy != NULL)
    self->mem_merge_destroy (self->mem_merge_data);
  self->mem_merge_func = func;
  self->mem_merge_data = user_data;
  self->mem_merge_destroy = destroy;
}
