/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-balloon"

#include "sp-balloon-settings.h"

#include "sp-balloon-xml.h"
#include "sp-domain-define.h"
#include "sp-domain-editor.h"
#include "sp-error.h"
#include "sp-libvirt-util.h"
#include "sp-log.h"
#include "sp-str.h"
#include "sp-xml-util.h"

struct _SpBalloonSettings {
  GObject parent_instance;

  SpLibvirt *libvirt;
};

G_DEFINE_TYPE (SpBalloonSettings, sp_balloon_settings, G_TYPE_OBJECT)

static void
sp_balloon_settings_finalize (GObject *object)
{
  SpBalloonSettings *self = SP_BALLOON_SETTINGS (object);

  g_clear_object (&self->libvirt);
  G_OBJECT_CLASS (sp_balloon_settings_parent_class)->finalize (object);
}

static void
sp_balloon_settings_class_init (SpBalloonSettingsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_balloon_settings_finalize;
}

static void
sp_balloon_settings_init (SpBalloonSettings *self)
{
}

SpBalloonSettings *
sp_balloon_settings_new (SpLibvirt *libvirt)
{
  SpBalloonSettings *self = g_object_new (SP_TYPE_BALLOON_SETTINGS, NULL);

  self->libvirt = g_object_ref (libvirt);
  return self;
}

/* An integer of any D-Bus integer type, as a gint64 (a too large guint64
 * saturates). */
static gboolean
get_integer (GVariant *value, gint64 *out)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT64))
    *out = g_variant_get_int64 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT64))
    *out = (gint64) MIN (g_variant_get_uint64 (value), (guint64) G_MAXINT64);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT32))
    *out = g_variant_get_int32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT32))
    *out = g_variant_get_uint32 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_INT16))
    *out = g_variant_get_int16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_UINT16))
    *out = g_variant_get_uint16 (value);
  else if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTE))
    *out = g_variant_get_byte (value);
  else
    return FALSE;
  return TRUE;
}

/* The snapshot's view; the worker checks the persistent XML again. */
static gboolean
check_reporting_model (const SpDomainInfo *domain, GError **error)
{
  const char *model = domain->balloon.model;

  if (sp_balloon_xml_model_has_driver (model))
    return TRUE;
  if (model == NULL)
    g_set_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                 "Domain %s has no <memballoon> device: free page reporting needs a virtio "
                 "balloon",
                 domain->name);
  else
    g_set_error (error, SP_ERROR, SP_ERROR_NOT_SUPPORTED,
                 "Domain %s has <memballoon model='%s'>: free page reporting needs a virtio "
                 "balloon",
                 domain->name, model);
  return FALSE;
}

gboolean
sp_balloon_settings_check (const SpDomainInfo *domain, GVariant *settings, SpBalloonChange *change,
                           GError **error)
{
  GVariantIter iter;
  const char *key;
  GVariant *raw;
  SpBalloonChange result = {
    .managed = domain->balloon.managed,
    .has_min = domain->balloon.has_min,
    .min_kib = domain->balloon.min_kib,
    .has_shares = domain->balloon.has_shares,
    .shares = domain->balloon.shares,
  };

  if (!domain->persistent)
    {
      g_set_error (error, SP_ERROR, SP_ERROR_TRANSIENT,
                   "Domain %s is transient: its balloon settings would not survive it",
                   domain->name);
      return FALSE;
    }
  if (g_variant_n_children (settings) == 0)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "No balloon setting given (known: min, shares, managed, reporting)");
      return FALSE;
    }
  g_variant_iter_init (&iter, settings);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &raw))
    {
      g_autoptr (GVariant) value = raw;
      g_autofree char *quoted = sp_quote (key);
      gint64 n;

      if (g_str_equal (key, "managed"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
            {
              g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                                   "Balloon setting 'managed' expects a boolean");
              return FALSE;
            }
          result.managed = g_variant_get_boolean (value);
          result.has_metadata = TRUE;
        }
      else if (g_str_equal (key, "min"))
        {
          g_autofree char *max = sp_format_kib ((gint64) domain->balloon.memory_kib);

          if (!get_integer (value, &n))
            {
              g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                                   "Balloon setting 'min' expects an integer (KiB)");
              return FALSE;
            }
          if (n < 0 || (guint64) n > domain->balloon.memory_kib)
            {
              g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "Balloon min %" G_GINT64_FORMAT
                           " KiB is out of range (0..%" G_GUINT64_FORMAT " KiB: 0 to %s, the "
                           "<memory> of %s)",
                           n, domain->balloon.memory_kib, max, domain->name);
              return FALSE;
            }
          result.has_min = TRUE;
          result.min_kib = (guint64) n;
          result.has_metadata = TRUE;
        }
      else if (g_str_equal (key, "shares"))
        {
          if (!get_integer (value, &n) || n < 1 || n > SP_BALLOON_MAX_SHARES)
            {
              g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                           "Balloon shares must be an integer in 1..%d", SP_BALLOON_MAX_SHARES);
              return FALSE;
            }
          result.has_shares = TRUE;
          result.shares = (guint64) n;
          result.has_metadata = TRUE;
        }
      else if (g_str_equal (key, "reporting"))
        {
          if (!g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN))
            {
              g_set_error_literal (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                                   "Balloon setting 'reporting' expects a boolean");
              return FALSE;
            }
          if (!check_reporting_model (domain, error))
            return FALSE;
          result.has_reporting = TRUE;
          result.reporting = g_variant_get_boolean (value);
        }
      else
        {
          g_set_error (error, SP_ERROR, SP_ERROR_INVALID_ARGS,
                       "Unknown balloon setting %s (known: min, shares, managed, reporting)",
                       quoted);
          return FALSE;
        }
    }
  *change = result;
  return TRUE;
}

char *
sp_balloon_change_describe (const SpBalloonChange *change)
{
  g_autoptr (GString) str = g_string_new (change->managed ? "managed" : "opted out");

  if (change->has_min)
    {
      g_autofree char *min = sp_format_kib ((gint64) change->min_kib);
      g_string_append_printf (str, ", min %s", min);
    }
  if (change->has_shares)
    g_string_append_printf (str, ", shares %" G_GUINT64_FORMAT, change->shares);
  return g_string_free (g_steal_pointer (&str), FALSE);
}

typedef struct {
  virConnectPtr conn;
  char *uuid;
  char *name;
  char *caller;
  SpBalloonChange change;
  gboolean reporting_changed; /* the persistent config was redefined */
  gboolean reporting_pending; /* running with the other setting until its next cold start */
} SetJob;

static void
set_job_free (SetJob *job)
{
  g_clear_pointer (&job->conn, virConnectClose);
  g_free (job->uuid);
  g_free (job->name);
  g_free (job->caller);
  g_free (job);
}

static const char *
on_off (gboolean on)
{
  return on ? "on" : "off";
}

/* SpDomainEditFunc: freePageReporting as the job wants it. */
static gboolean
edit_reporting (const SpDomainDefineTarget *target, const char *xml, char **new_xml,
                gpointer user_data, GError **error)
{
  SetJob *job = user_data;

  return sp_domain_editor_set_free_page_reporting (xml, target->name, job->change.reporting,
                                                   new_xml, error);
}

/* What the running QEMU has, read after the change; only logged on error. */
static void
read_running_reporting (SetJob *job, const SpDomainDefineTarget *target)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (xmlDoc) doc = NULL;
  g_autoptr (xmlXPathContext) ctxt = NULL;
  g_autofree char *xml = NULL;
  SpBalloonXml live = { 0 };

  if (virDomainIsActive (target->dom) != 1)
    return;
  xml = sp_domain_define_read_xml (target, 0, &error);
  if (xml != NULL && sp_xml_open_domain (xml, &doc, &ctxt, &error) &&
      sp_balloon_xml_read (ctxt, &live, &error))
    {
      job->reporting_pending = live.free_page_reporting != job->change.reporting;
      if (job->reporting_changed && job->reporting_pending)
        sp_log_domain (G_LOG_LEVEL_MESSAGE, job->name, job->uuid,
                       "Domain %s runs with free page reporting %s until its next cold start "
                       "(a guest reboot is not enough)",
                       job->name, on_off (live.free_page_reporting));
    }
  else
    sp_log_domain (G_LOG_LEVEL_WARNING, job->name, job->uuid,
                   "Free page reporting of domain %s: %s", job->name, error->message);
  sp_balloon_xml_clear (&live);
}

static gboolean
set_reporting (SetJob *job, virDomainPtr dom, GError **error)
{
  SpDomainDefineTarget target = {
    .conn = job->conn,
    .dom = dom,
    .name = job->name,
    .uuid = job->uuid,
    .what = "free page reporting",
  };

  if (!sp_domain_define_check_persistent (&target, error) ||
      !sp_domain_define_edit (&target, edit_reporting, job, NULL, &job->reporting_changed, error))
    return FALSE;
  if (job->reporting_changed)
    sp_log_domain (G_LOG_LEVEL_MESSAGE, job->name, job->uuid,
                   "Free page reporting of domain %s (persistent config): %s → %s, asked by %s",
                   job->name, on_off (!job->change.reporting), on_off (job->change.reporting),
                   job->caller);
  read_running_reporting (job, &target);
  return TRUE;
}

static void
set_thread (GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
  SetJob *job = data;
  g_autoptr (virDomain) dom = virDomainLookupByUUIDString (job->conn, job->uuid);
  g_autofree char *metadata = NULL;
  unsigned int flags = VIR_DOMAIN_AFFECT_CONFIG;
  GError *error = NULL;

  if (dom == NULL)
    {
      sp_domain_define_set_error (&error, job->name, "look up", SP_DOMAIN_DEFINE_GONE);
      g_task_return_error (task, error);
      return;
    }
  /* first: a refused reporting changes nothing */
  if (job->change.has_reporting && !set_reporting (job, dom, &error))
    {
      g_task_return_error (task, error);
      return;
    }
  if (!job->change.has_metadata)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (virDomainIsActive (dom) == 1)
    flags |= VIR_DOMAIN_AFFECT_LIVE;
  metadata = sp_balloon_xml_metadata (job->change.managed, job->change.has_min, job->change.min_kib,
                                      job->change.has_shares, job->change.shares);
  if (virDomainSetMetadata (dom, VIR_DOMAIN_METADATA_ELEMENT, metadata, SP_BALLOON_METADATA_PREFIX,
                            SP_BALLOON_METADATA_URI, flags) < 0)
    {
      sp_libvirt_set_error (&error, "Cannot set the balloon metadata of %s", job->name);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
on_set_refreshed (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) outer = G_TASK (user_data);

  sp_libvirt_wait_refreshed_finish (SP_LIBVIRT (source), result);
  g_task_return_boolean (outer, TRUE);
}

static void
set_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpBalloonSettings *self = SP_BALLOON_SETTINGS (source);
  g_autoptr (GTask) outer = G_TASK (user_data);
  SetJob *job = g_task_get_task_data (G_TASK (result));
  GError *error = NULL;
  g_autofree char *described = NULL;
  guint64 serial;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (outer, error);
      return;
    }
  if (job->change.has_metadata)
    {
      described = sp_balloon_change_describe (&job->change);
      sp_log_domain (G_LOG_LEVEL_MESSAGE, job->name, job->uuid,
                     "Balloon settings of domain %s: %s, asked by %s", job->name, described,
                     job->caller);
    }
  if (!job->change.has_metadata && !job->reporting_changed)
    {
      g_task_return_boolean (outer, TRUE);
      return;
    }
  /* the reply waits for a refresh that starts after the change, so the
   * Domain object a client reads next shows it */
  serial = sp_libvirt_get_next_refresh_serial (self->libvirt);
  sp_libvirt_queue_refresh_domain (self->libvirt, job->uuid);
  sp_libvirt_wait_refreshed_async (self->libvirt, serial, SP_BALLOON_SETTINGS_REFRESH_TIMEOUT_S,
                                   "SetBalloon", on_set_refreshed, g_steal_pointer (&outer));
}

void
sp_balloon_settings_set_async (SpBalloonSettings *self, const SpDomainInfo *domain,
                               const SpBalloonChange *change, const char *caller,
                               GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) outer = g_task_new (self, NULL, callback, user_data);
  g_autoptr (GTask) worker = NULL;
  virConnectPtr conn;
  SetJob *job;

  g_task_set_source_tag (outer, sp_balloon_settings_set_async);
  conn = sp_libvirt_ref_connection (self->libvirt);
  if (conn == NULL)
    {
      g_task_return_new_error (outer, SP_ERROR, SP_ERROR_NOT_CONNECTED,
                               "Not connected to libvirt: cannot change domain %s", domain->name);
      return;
    }
  job = g_new0 (SetJob, 1);
  job->conn = conn;
  job->uuid = g_strdup (domain->uuid);
  job->name = g_strdup (domain->name);
  job->caller = g_strdup (caller);
  job->change = *change;
  worker = g_task_new (self, NULL, set_done, g_steal_pointer (&outer));
  g_task_set_task_data (worker, job, (GDestroyNotify) set_job_free);
  g_task_run_in_thread (worker, set_thread);
}

gboolean
sp_balloon_settings_set_finish (SpBalloonSettings *self, GAsyncResult *result, GError **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}
