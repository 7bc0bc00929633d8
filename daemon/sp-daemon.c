/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged"

#include "config.h"

#include "sp-daemon.h"

#include "sp-config.h"
#include "sp-libvirt.h"
#include "sp-tuner.h"

struct _SpDaemon {
  GObject parent_instance;

  SpDaemonOptions options;
  SpTuner *tuner;
  SpLibvirt *libvirt;
};

G_DEFINE_TYPE (SpDaemon, sp_daemon, G_TYPE_OBJECT)

static void
sp_daemon_finalize (GObject *object)
{
  SpDaemon *self = SP_DAEMON (object);

  if (self->libvirt != NULL)
    g_signal_handlers_disconnect_by_data (self->libvirt, self);
  g_clear_object (&self->libvirt);
  g_clear_object (&self->tuner);
  g_free (self->options.config_path);
  g_free (self->options.ksmtuned_path);
  g_free (self->options.sysfs_root);
  g_free (self->options.procfs_root);
  g_free (self->options.connect_uri);
  G_OBJECT_CLASS (sp_daemon_parent_class)->finalize (object);
}

static void
sp_daemon_class_init (SpDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = sp_daemon_finalize;
}

static void
sp_daemon_init (SpDaemon *self)
{
}

SpDaemon *
sp_daemon_new (const SpDaemonOptions *options)
{
  SpDaemon *self = g_object_new (SP_TYPE_DAEMON, NULL);

  self->options.config_path = g_strdup (options->config_path);
  self->options.ksmtuned_path = g_strdup (options->ksmtuned_path);
  self->options.sysfs_root = g_strdup (options->sysfs_root ? options->sysfs_root : "/sys");
  self->options.procfs_root = g_strdup (options->procfs_root ? options->procfs_root : "/proc");
  self->options.connect_uri = g_strdup (options->connect_uri);
  self->options.dry_run = options->dry_run;
  self->options.verbose = options->verbose;
  return self;
}

/* defaults < /etc/ksmtuned.conf < samepaged.conf < command line */
static SpConfig *
load_config (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  const char *ksmtuned = self->options.ksmtuned_path ? self->options.ksmtuned_path
                                                     : SP_KSMTUNED_CONFIG;
  const char *path = self->options.config_path ? self->options.config_path
                                               : SP_DEFAULT_CONFIG;

  if (*ksmtuned != '\0')
    {
      if (!sp_config_import_ksmtuned (config, ksmtuned, warnings, error))
        return NULL;
      for (guint i = 0; i < warnings->len; i++)
        g_warning ("%s", (const char *) g_ptr_array_index (warnings, i));
    }
  if (!sp_config_load_file (config, path, self->options.config_path != NULL, error))
    return NULL;
  if (self->options.connect_uri != NULL)
    {
      g_free (config->connect_uri);
      config->connect_uri = g_strdup (self->options.connect_uri);
    }
  if (!sp_config_validate (config, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  return g_steal_pointer (&config);
}

/* libvirt refreshed its domains (after events, debounced): decide now. */
static void
on_guests_changed (SpLibvirt *libvirt, SpGuests *guests, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  sp_tuner_set_guests (self->tuner, guests);
  sp_tuner_retune (self->tuner);
}

gboolean
sp_daemon_start (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) config = NULL;

  g_return_val_if_fail (SP_IS_DAEMON (self), FALSE);

  config = load_config (self, error);
  if (config == NULL)
    return FALSE;

  g_message ("samepaged %s starting: mode %s, tick every %u s, KSM at %s/kernel/mm/ksm%s",
             PACKAGE_VERSION, sp_mode_to_string (config->mode), config->monitor_interval_sec,
             self->options.sysfs_root, self->options.dry_run ? " (dry run: nothing is written)" : "");

  self->tuner = sp_tuner_new (config, self->options.sysfs_root, self->options.procfs_root,
                              self->options.dry_run);
  sp_tuner_start (self->tuner);

  self->libvirt = sp_libvirt_new (config->connect_uri, self->options.procfs_root,
                                  SP_LIBVIRT_QEMU_PID_DIR);
  g_signal_connect (self->libvirt, "guests-changed", G_CALLBACK (on_guests_changed), self);
  sp_libvirt_start (self->libvirt);
  return TRUE;
}

SpTuner *
sp_daemon_get_tuner (SpDaemon *self)
{
  g_return_val_if_fail (SP_IS_DAEMON (self), NULL);
  return self->tuner;
}

SpLibvirt *
sp_daemon_get_libvirt (SpDaemon *self)
{
  g_return_val_if_fail (SP_IS_DAEMON (self), NULL);
  return self->libvirt;
}

gboolean
sp_daemon_reload (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) config = NULL;

  g_return_val_if_fail (SP_IS_DAEMON (self), FALSE);

  config = load_config (self, error);
  if (config == NULL)
    {
      g_prefix_error (error, "Keeping the previous configuration: ");
      return FALSE;
    }
  if (sp_config_equal (config, sp_tuner_get_config (self->tuner)))
    {
      g_message ("Configuration reloaded: unchanged");
      return TRUE;
    }
  if (g_strcmp0 (config->connect_uri, sp_tuner_get_config (self->tuner)->connect_uri) != 0)
    g_message ("The libvirt URI changed; it takes effect when samepaged restarts");
  g_message ("Configuration reloaded: mode %s, tick every %u s",
             sp_mode_to_string (config->mode), config->monitor_interval_sec);
  sp_tuner_set_config (self->tuner, config);
  return TRUE;
}

void
sp_daemon_stop (SpDaemon *self)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (SP_IS_DAEMON (self));

  if (self->tuner == NULL)
    return;
  if (!sp_tuner_restore (self->tuner, &error))
    g_warning ("Could not restore every KSM knob: %s", error->message);
}
