/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "sp-dbus-service.h"

#include "sp-dbus-domains.h"
#include "sp-dbus-interface.h"
#include "sp-dbus-manager.h"
#include "sp-dbus-properties.h"
#include "sp-error.h"
#include "sp-log-limiter.h"
#include "sp-names.h"
#include "sp-resources.h"

#define SP_INTROSPECTION_RESOURCE "/org/samepage1/org.samepage1.Manager.xml"

/* Refused calls (invalid arguments, denied) are logged at most once per
 * sender per minute; at most REFUSAL_SENDERS senders are remembered and
 * REFUSAL_LINES lines a minute let through over all of them (a hostile
 * client can open connection after connection, each a new sender). */
#define REFUSAL_INTERVAL_US (60 * G_USEC_PER_SEC)
#define REFUSAL_SENDERS 1000
#define REFUSAL_LINES 100

/* ------------------------------------------------------------------------ */

struct _SpDbusService {
  GObject parent_instance;

  SpDbusTargets targets; /* referenced: what the methods act on */
  SpAuthority *authority;
  GCancellable *cancellable; /* of pending authorizations */

  GDBusNodeInfo *introspection;
  GDBusInterfaceInfo *cached[2]; /* of introspection, with a lookup cache */
  SpDbusInterface *manager;
  GDBusObjectManagerServer *object_manager;
  SpDbusDomains *domains;
  GDBusConnection *connection;

  SpLogLimiter *refusals; /* the log lines about refused calls */
  guint refusals_id;      /* the next end of a minute of refusals */

  GPtrArray *calls;  /* MethodCall*: method calls not answered yet */
  gboolean stopping; /* new calls are refused */
  GTask *drain;      /* completes when calls is empty (or on timeout) */
  guint drain_timeout_id;
};

G_DEFINE_TYPE (SpDbusService, sp_dbus_service, G_TYPE_OBJECT)

static void
update_manager (SpDbusService *self)
{
  SpTuner *tuner = self->targets.tuner;

  sp_dbus_interface_update (
      self->manager,
      sp_dbus_manager_properties (sp_tuner_get_snapshot (tuner), sp_tuner_get_config (tuner)));
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
  /* every decision: the balloon targets change without the guests changing */
  sp_dbus_domains_sync (self->domains, snapshot->guests, snapshot->balloon);
  emit_tuned (self, snapshot);
}

/* ------------------------------------------------------------------------ */
/* Refused calls: answered every time, logged at most once per sender per
 * minute, with the count of those not logged. */

static void
log_held_back (const char *sender, guint64 n, gpointer user_data)
{
  if (sender != NULL)
    g_message ("Refused %" G_GUINT64_FORMAT " more call(s) from %s in the last minute (logged "
               "once a minute per sender)",
               n, sender);
  else
    g_message ("Refused %" G_GUINT64_FORMAT " more call(s) from other senders in the last minute "
               "(too many senders to log each)",
               n);
}

static void schedule_refusals (SpDbusService *self);

static gboolean
on_refusals_due (gpointer user_data)
{
  SpDbusService *self = SP_DBUS_SERVICE (user_data);

  self->refusals_id = 0;
  sp_log_limiter_expire (self->refusals, g_get_monotonic_time (), log_held_back, NULL);
  schedule_refusals (self);
  return G_SOURCE_REMOVE;
}

/* A timeout for when the next minute of refusals ends (one at a time:
 * every later minute ends after it). */
static void
schedule_refusals (SpDbusService *self)
{
  gint64 next_us = sp_log_limiter_next_expiry (self->refusals);
  gint64 delay_ms;

  if (self->refusals_id != 0 || next_us == G_MAXINT64)
    return;
  delay_ms = (next_us - g_get_monotonic_time () + 999) / 1000;
  self->refusals_id = g_timeout_add ((guint) CLAMP (delay_ms, 0, G_MAXUINT), on_refusals_due, self);
  g_source_set_name_by_id (self->refusals_id, "[samepaged] refused calls");
}

/*
 * Answers a call refused before it ran (bad arguments, not authorized:
 * what a hostile caller can repeat as fast as it likes) and logs it, at
 * most once per sender per minute. uid: the caller's, G_MAXUINT32 unknown.
 */
static void
refuse (SpDbusService *self, GDBusMethodInvocation *invocation, const GError *error, guint32 uid)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  g_autofree char *more = NULL;
  g_autofree char *caller = NULL;
  guint64 held_back = 0;

  if (sender == NULL)
    sender = "(no bus name)";
  if (sp_log_limiter_allow (self->refusals, sender, g_get_monotonic_time (), &held_back))
    {
      if (held_back > 0)
        more = g_strdup_printf (" (and %" G_GUINT64_FORMAT " more from %s in the last minute)",
                                held_back, sender);
      if (g_error_matches (error, SP_ERROR, SP_ERROR_ACCESS_DENIED))
        {
          caller = uid == G_MAXUINT32 ? g_strdup_printf ("an unidentified caller (%s)", sender)
                                      : g_strdup_printf ("uid %u (%s)", uid, sender);
          g_message ("Denied %s to %s: %s%s", method, caller, error->message, more ? more : "");
        }
      else
        g_message ("Refused %s from %s: %s%s", method, sender, error->message, more ? more : "");
    }
  schedule_refusals (self);
  sp_dbus_return_error_unlogged (invocation, error);
}

/* ------------------------------------------------------------------------ */
/* Methods of org.samepage1.Manager: check the arguments, authorize, run. */

typedef struct {
  SpDbusService *self;
  GDBusMethodInvocation *invocation; /* until answered */
  const SpDbusMethod *method;
  char *caller; /* once authorized */
} MethodCall;

static void drain_check (SpDbusService *self);

static MethodCall *
method_call_new (SpDbusService *self, GDBusMethodInvocation *invocation, const SpDbusMethod *method)
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
  guint32 uid = G_MAXUINT32;
  gboolean allowed = sp_authority_check_finish (SP_AUTHORITY (source), result, &uid, &error);

  if (call->self->stopping)
    {
      g_clear_error (&error);
      error = stopping_error (call->method->name);
      method_call_fail (call, error);
      return;
    }
  if (!allowed)
    {
      if (call->invocation != NULL)
        refuse (call->self, g_steal_pointer (&call->invocation), error, uid);
      method_call_free (call);
      return;
    }
  call->caller =
      g_strdup_printf ("uid %u (%s)", uid, g_dbus_method_invocation_get_sender (call->invocation));
  task = g_task_new (call->self, NULL, on_method_done, call);
  g_task_set_source_tag (task, on_authorized);
  call->method->run (&call->self->targets,
                     g_dbus_method_invocation_get_parameters (call->invocation), call->caller,
                     task);
}

static void
handle_manager_method (GDBusConnection *connection, const char *sender, const char *object_path,
                       const char *interface_name, const char *method_name, GVariant *parameters,
                       GDBusMethodInvocation *invocation, gpointer user_data)
{
  SpDbusService *self = SP_DBUS_SERVICE (user_data);
  const SpDbusMethod *method = sp_dbus_manager_lookup_method (method_name);
  g_autoptr (GError) error = NULL;
  MethodCall *call;

  if (method == NULL)
    {
      error = g_error_new (SP_ERROR, SP_ERROR_NOT_SUPPORTED, "%s has no method %s", interface_name,
                           method_name);
      sp_dbus_return_error (invocation, error);
      return;
    }
  if (self->stopping)
    {
      error = stopping_error (method_name);
      sp_dbus_return_error (invocation, error);
      return;
    }
  if (method->check != NULL)
    method->check (&self->targets, parameters, &error);
  if (error != NULL)
    {
      refuse (self, invocation, error, G_MAXUINT32);
      return;
    }

  call = method_call_new (self, invocation, method);
  sp_authority_check_async (self->authority, invocation, self->cancellable, on_authorized, call);
}

/* ------------------------------------------------------------------------ */
/* Stopping: the calls in flight are answered before samepaged exits. */

static void
on_flushed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  g_autoptr (GError) error = NULL;

  if (!g_dbus_connection_flush_finish (G_DBUS_CONNECTION (source), result, &error))
    g_debug ("Cannot flush the system bus connection: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

/* Low priority: calls already dispatched to the main loop are answered
 * ("stopping") first; then every answer is written before samepaged exits. */
static gboolean
flush_idle (gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  SpDbusService *self = g_task_get_source_object (task);

  if (self->connection == NULL)
    g_task_return_boolean (task, TRUE);
  else
    g_dbus_connection_flush (self->connection, NULL, on_flushed, g_steal_pointer (&task));
  return G_SOURCE_REMOVE;
}

static void
drain_complete (SpDbusService *self)
{
  GTask *task = g_steal_pointer (&self->drain);

  g_clear_handle_id (&self->drain_timeout_id, g_source_remove);
  if (task != NULL)
    g_idle_add_full (G_PRIORITY_LOW, flush_idle, task, NULL);
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
  self->drain = g_steal_pointer (&task);
  if (self->calls->len == 0)
    {
      drain_complete (self);
      return;
    }
  g_message ("Waiting up to %u s for %u D-Bus call(s) in progress", timeout_s, self->calls->len);
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

  if (self->targets.tuner != NULL)
    g_signal_handlers_disconnect_by_data (self->targets.tuner, self);
  sp_dbus_service_unexport (self);
  /* what was held back is not lost at exit */
  g_clear_handle_id (&self->refusals_id, g_source_remove);
  if (self->refusals != NULL)
    sp_log_limiter_expire (self->refusals, G_MAXINT64, log_held_back, NULL);
  g_clear_object (&self->domains);
  g_clear_object (&self->object_manager);
  g_clear_object (&self->manager);
  g_clear_object (&self->authority);
  g_clear_object (&self->targets.tuner);
  g_clear_object (&self->targets.overrides);
  g_clear_object (&self->targets.mem_merge);
  g_clear_object (&self->targets.balloon_settings);
  G_OBJECT_CLASS (sp_dbus_service_parent_class)->dispose (object);
}

static void
sp_dbus_service_finalize (GObject *object)
{
  SpDbusService *self = SP_DBUS_SERVICE (object);

  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->calls, g_ptr_array_unref);
  g_clear_pointer (&self->refusals, sp_log_limiter_free);
  /* GDBus keys the lookup caches by address: a later node info at the same
   * address must not find these (a second service in one process) */
  for (guint i = 0; i < G_N_ELEMENTS (self->cached); i++)
    if (self->cached[i] != NULL)
      g_dbus_interface_info_cache_release (self->cached[i]);
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
  self->refusals = sp_log_limiter_new (REFUSAL_INTERVAL_US, REFUSAL_SENDERS, REFUSAL_LINES);
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
sp_dbus_service_new (SpTuner *tuner, SpOverrides *overrides, SpMemMerge *mem_merge,
                     SpAuthority *authority, GError **error)
{
  g_autoptr (SpDbusService) self = NULL;
  g_autoptr (SpDomainInfo) sample_domain = sp_domain_info_new ();
  GDBusInterfaceInfo *manager_info;
  GDBusInterfaceInfo *domain_info;
  SpSnapshot *snapshot;

  g_return_val_if_fail (SP_IS_TUNER (tuner), NULL);
  g_return_val_if_fail (SP_IS_OVERRIDES (overrides), NULL);
  g_return_val_if_fail (mem_merge == NULL || SP_IS_MEM_MERGE (mem_merge), NULL);
  g_return_val_if_fail (SP_IS_AUTHORITY (authority), NULL);

  self = g_object_new (SP_TYPE_DBUS_SERVICE, NULL);

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
  self->cached[0] = manager_info;
  g_dbus_interface_info_cache_build (domain_info);
  self->cached[1] = domain_info;

  self->targets.tuner = g_object_ref (tuner);
  self->targets.overrides = g_object_ref (overrides);
  self->targets.mem_merge = mem_merge != NULL ? g_object_ref (mem_merge) : NULL;
  snapshot = sp_tuner_get_snapshot (tuner);
  if (!sp_dbus_check_properties (manager_info,
                                 sp_dbus_manager_properties (snapshot, sp_tuner_get_config (tuner)),
                                 error) ||
      !sp_dbus_check_properties (domain_info, sp_dbus_domain_properties (sample_domain, NULL),
                                 error))
    return NULL;

  self->authority = g_object_ref (authority);
  self->manager = sp_dbus_interface_new (manager_info, handle_manager_method, self);
  self->object_manager = g_dbus_object_manager_server_new (SP_DBUS_PATH);
  self->domains = sp_dbus_domains_new (domain_info, self->object_manager);
  update_manager (self);
  sp_dbus_domains_sync (self->domains, snapshot->guests, snapshot->balloon);
  g_signal_connect (tuner, "tuned", G_CALLBACK (on_tuned), self);
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
sp_dbus_service_set_balloon_settings (SpDbusService *self, SpBalloonSettings *balloon_settings)
{
  g_return_if_fail (SP_IS_DBUS_SERVICE (self));
  g_return_if_fail (SP_IS_BALLOON_SETTINGS (balloon_settings));

  g_set_object (&self->targets.balloon_settings, balloon_settings);
}
