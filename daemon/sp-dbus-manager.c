/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-dbus"

#include "config.h"

#include "sp-dbus-manager.h"

#include "sp-config-variant.h"
#include "sp-error.h"
#include "sp-str.h"

static void
task_return (GTask *task, gboolean ok, GError *error)
{
  if (ok)
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

/* The merge_across_nodes settings asks for (0 or 1), or -1: not asked, or
 * "as found". Type and range were checked with the whole change. */
static gint64
wanted_merge_across_nodes (const SpDbusTargets *targets, GVariant *settings)
{
  g_autoptr (GVariant) value = g_variant_lookup_value (settings, "merge_across_nodes", NULL);
  g_autoptr (SpConfig) config = NULL;

  if (value == NULL)
    return -1;
  config = sp_config_copy (sp_tuner_get_config (targets->tuner));
  if (!sp_config_set_from_variant (config, "merge_across_nodes", value, NULL))
    return -1;
  return config->merge_across_nodes;
}

static gboolean
check_set_tuning (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  g_autoptr (GVariant) settings = g_variant_get_child_value (parameters, 0);
  gint64 merge_across_nodes;

  if (!sp_overrides_check_tuning (targets->overrides, settings, error))
    return FALSE;
  /* merge_across_nodes needs an unmerge the memory can absorb */
  merge_across_nodes = wanted_merge_across_nodes (targets, settings);
  if (merge_across_nodes < 0)
    return TRUE;
  return sp_tuner_check_unmerge (targets->tuner, merge_across_nodes, NULL, error);
}

typedef struct {
  SpOverrides *overrides;
  GVariant *settings;
  GTask *task;
} SetTuningData;

static void
set_tuning_data_free (SetTuningData *data)
{
  g_object_unref (data->overrides);
  g_variant_unref (data->settings);
  g_object_unref (data->task);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SetTuningData, set_tuning_data_free)

/* merge_across_nodes is in the kernel: now the change is saved and applied. */
static void
on_merge_across_nodes_changed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (SetTuningData) data = user_data;
  GError *error = NULL;
  gboolean ok = sp_tuner_unmerge_finish (SP_TUNER (source), result, &error);

  if (ok)
    ok = sp_overrides_set_tuning (data->overrides, data->settings, &error);
  task_return (data->task, ok, error);
}

static void
run_set_tuning (const SpDbusTargets *targets, GVariant *parameters, const char *caller, GTask *task)
{
  g_autoptr (GVariant) settings = g_variant_get_child_value (parameters, 0);
  gint64 merge_across_nodes = wanted_merge_across_nodes (targets, settings);
  SetTuningData *data;
  GError *error = NULL;
  gboolean ok;

  if (merge_across_nodes >= 0)
    {
      /* unmerged, written and run put back first; saved once the kernel took it */
      data = g_new0 (SetTuningData, 1);
      data->overrides = g_object_ref (targets->overrides);
      data->settings = g_steal_pointer (&settings);
      data->task = g_object_ref (task);
      sp_tuner_unmerge_async (targets->tuner, merge_across_nodes, on_merge_across_nodes_changed,
                              data);
      return;
    }
  ok = sp_overrides_set_tuning (targets->overrides, settings, &error);
  /* error read after the call: argument order is unspecified in C */
  task_return (task, ok, error);
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
check_set_mode (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  SpMode mode;

  return parse_mode (parameters, &mode, error);
}

static void
run_set_mode (const SpDbusTargets *targets, GVariant *parameters, const char *caller, GTask *task)
{
  GError *error = NULL;
  SpMode mode = SP_MODE_AUTO;
  gboolean ok = parse_mode (parameters, &mode, &error);

  if (ok)
    ok = sp_overrides_set_mode (targets->overrides, mode, &error);
  task_return (task, ok, error);
}

static void
run_retune (const SpDbusTargets *targets, GVariant *parameters, const char *caller, GTask *task)
{
  guint64 n_decisions = sp_tuner_get_n_decisions (targets->tuner);

  /* resyncs the domain list too (the decision follows it when it lands) */
  sp_tuner_request_retune (targets->tuner);
  if (sp_tuner_get_n_decisions (targets->tuner) == n_decisions)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_FAILED,
                               "No decision could be made: samepaged cannot read the KSM or "
                               "memory state (see its log)");
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static gboolean
check_unmerge (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  return sp_tuner_check_unmerge (targets->tuner, -1, NULL, error);
}

/*
 * The reply of a method whose change is another object's async call
 * (user_data: the method's task, one reference). Each of those calls
 * (sp_tuner_unmerge_async, sp_mem_merge_change_async,
 * sp_balloon_settings_set_async) returns a GTask of source holding a
 * boolean, and its _finish is g_task_propagate_boolean(): so one callback
 * serves them all.
 */
static void
on_change_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);
  GError *error = NULL;
  gboolean ok;

  g_return_if_fail (g_task_is_valid (result, source));
  ok = g_task_propagate_boolean (G_TASK (result), &error);
  task_return (task, ok, error);
}

/* Mode never first (saved): whatever happens next, KSM does not merge
 * again until the mode is changed. */
static void
run_unmerge (const SpDbusTargets *targets, GVariant *parameters, const char *caller, GTask *task)
{
  GError *error = NULL;

  if (!sp_tuner_check_unmerge (targets->tuner, -1, NULL, &error) ||
      !sp_overrides_set_mode (targets->overrides, SP_MODE_NEVER, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  g_message ("Unmerge asked by %s: mode never until changed", caller);
  sp_tuner_unmerge_async (targets->tuner, -1, on_change_done, g_object_ref (task));
}

/* The domain a method names (its name or UUID), in the last snapshot. */
static const SpDomainInfo *
find_named_domain (const SpDbusTargets *targets, const char *name, GError **error)
{
  const SpGuests *guests = sp_tuner_get_snapshot (targets->tuner)->guests;
  const SpDomainInfo *domain;
  g_autofree char *quoted = NULL;

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

/* The domain of SetMemMerge's arguments. */
static const SpDomainInfo *
find_domain (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  const char *name;
  gboolean enabled;

  g_variant_get (parameters, "(&sb)", &name, &enabled);
  return find_named_domain (targets, name, error);
}

static gboolean
check_set_mem_merge (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  return find_domain (targets, parameters, error) != NULL;
}

static void
run_set_mem_merge (const SpDbusTargets *targets, GVariant *parameters, const char *caller,
                   GTask *task)
{
  GError *error = NULL;
  const SpDomainInfo *domain;
  const char *name;
  gboolean enabled;

  /* the domain may have gone while polkit was asked */
  domain = find_domain (targets, parameters, &error);
  if (domain == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (targets->mem_merge == NULL)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                               "SetMemMerge is not supported by samepaged %s yet; edit the "
                               "domain with virsh edit (<memoryBacking><nosharepages/>)",
                               PACKAGE_VERSION);
      return;
    }
  g_variant_get (parameters, "(&sb)", &name, &enabled);
  sp_mem_merge_change_async (targets->mem_merge, domain->uuid, enabled, caller, on_change_done,
                             g_object_ref (task));
}

/* The domain of SetBalloon's arguments, and the change. */
static const SpDomainInfo *
balloon_domain (const SpDbusTargets *targets, GVariant *parameters, SpBalloonChange *change,
                GError **error)
{
  const SpDomainInfo *domain;
  g_autoptr (GVariant) settings = NULL;
  const char *name;

  g_variant_get (parameters, "(&s@a{sv})", &name, &settings);
  domain = find_named_domain (targets, name, error);
  if (domain == NULL)
    return NULL;
  if (!sp_balloon_settings_check (domain, settings, change, error))
    return NULL;
  return domain;
}

static gboolean
check_set_balloon (const SpDbusTargets *targets, GVariant *parameters, GError **error)
{
  SpBalloonChange change;

  return balloon_domain (targets, parameters, &change, error) != NULL;
}

static void
run_set_balloon (const SpDbusTargets *targets, GVariant *parameters, const char *caller,
                 GTask *task)
{
  GError *error = NULL;
  SpBalloonChange change;
  const SpDomainInfo *domain;

  /* the domain may have changed while polkit was asked */
  domain = balloon_domain (targets, parameters, &change, &error);
  if (domain == NULL)
    {
      g_task_return_error (task, error);
      return;
    }
  if (targets->balloon_settings == NULL)
    {
      g_task_return_new_error (task, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                               "SetBalloon is not supported by this samepaged");
      return;
    }
  sp_balloon_settings_set_async (targets->balloon_settings, domain, &change, caller, on_change_done,
                                 g_object_ref (task));
}

static const SpDbusMethod manager_methods[] = {
  { "SetTuning", check_set_tuning, run_set_tuning },
  { "SetMode", check_set_mode, run_set_mode },
  { "Retune", NULL, run_retune },
  { "Unmerge", check_unmerge, run_unmerge },
  { "SetMemMerge", check_set_mem_merge, run_set_mem_merge },
  { "SetBalloon", check_set_balloon, run_set_balloon },
};

const SpDbusMethod *
sp_dbus_manager_lookup_method (const char *name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (manager_methods); i++)
    if (g_strcmp0 (manager_methods[i].name, name) == 0)
      return &manager_methods[i];
  return NULL;
}
