/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged"

#include "config.h"

#include "sp-daemon.h"

#include "sp-balloon-actuator.h"
#include "sp-balloon-policy.h"

#include "sp-authority.h"
#include "sp-config.h"
#include "sp-ksmtuned-import.h"
#include "sp-dbus-service.h"
#include "sp-libvirt.h"
#include "sp-log.h"
#include "sp-mem-merge.h"
#include "sp-metrics.h"
#include "sp-names.h"
#include "sp-notify.h"
#include "sp-overrides.h"
#include "sp-tuner.h"

struct _SpDaemon {
  GObject parent_instance;

  SpDaemonOptions options;
  SpTuner *tuner;
  SpLibvirt *libvirt;
  SpOverrides *overrides; /* the runtime changes: overrides.conf */
  SpMemMerge *mem_merge;
  gboolean tuning; /* the tuner and the libvirt watcher run */
  gboolean tuner_started;
  guint first_guests_id; /* waiting for the first domain list */
  SpLogOnce metrics_problem;

  GCancellable *cancellable;
  GDBusConnection *bus;
  SpDbusService *service;
  guint name_id;
  gboolean name_owned;
};

enum {
  SIGNAL_QUIT,
  N_SIGNALS,
};
static guint signals[N_SIGNALS];

G_DEFINE_TYPE (SpDaemon, sp_daemon, G_TYPE_OBJECT)

static void
sp_daemon_dispose (GObject *object)
{
  SpDaemon *self = SP_DAEMON (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->first_guests_id, g_source_remove);
  g_clear_handle_id (&self->name_id, g_bus_unown_name);
  if (self->service != NULL)
    sp_dbus_service_unexport (self->service);
  g_clear_object (&self->service);
  g_clear_object (&self->bus);
  if (self->libvirt != NULL)
    g_signal_handlers_disconnect_by_data (self->libvirt, self);
  g_clear_object (&self->mem_merge);
  g_clear_object (&self->libvirt);
  g_clear_object (&self->overrides);
  g_clear_object (&self->tuner);
  G_OBJECT_CLASS (sp_daemon_parent_class)->dispose (object);
}

static void
sp_daemon_finalize (GObject *object)
{
  SpDaemon *self = SP_DAEMON (object);

  g_clear_object (&self->cancellable);
  g_free (self->options.config_path);
  g_free (self->options.ksmtuned_path);
  g_free (self->options.sysfs_root);
  g_free (self->options.procfs_root);
  g_free (self->options.connect_uri);
  g_free (self->options.metrics_textfile);
  g_free (self->options.state_dir);
  sp_log_once_reset (&self->metrics_problem);
  G_OBJECT_CLASS (sp_daemon_parent_class)->finalize (object);
}

static void
sp_daemon_class_init (SpDaemonClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sp_daemon_dispose;
  object_class->finalize = sp_daemon_finalize;

  /**
   * SpDaemon::quit:
   * @exit_code: what samepaged should exit with
   *
   * samepaged cannot go on (it lost its bus name): the main loop should
   * stop, and samepaged exit with exit_code after sp_daemon_stop().
   */
  signals[SIGNAL_QUIT] = g_signal_new ("quit", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_INT);
}

static void
sp_daemon_init (SpDaemon *self)
{
  self->cancellable = g_cancellable_new ();
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
  self->options.metrics_textfile = g_strdup (options->metrics_textfile);
  self->options.state_dir =
      g_strdup (options->state_dir ? options->state_dir : SP_DEFAULT_STATE_DIR);
  self->options.dry_run = options->dry_run;
  self->options.verbose = options->verbose;
  self->overrides = sp_overrides_new (self->options.state_dir);
  sp_overrides_set_dry_run (self->overrides, self->options.dry_run);
  return self;
}

/* defaults < /etc/ksmtuned.conf < samepaged.conf: errors are the caller's */
static SpConfig *
load_base_config (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (GPtrArray) warnings = g_ptr_array_new_with_free_func (g_free);
  const char *ksmtuned =
      self->options.ksmtuned_path ? self->options.ksmtuned_path : SP_KSMTUNED_CONFIG;
  const char *path = self->options.config_path ? self->options.config_path : SP_DEFAULT_CONFIG;

  if (*ksmtuned != '\0')
    {
      if (!sp_config_import_ksmtuned (config, ksmtuned, warnings, error))
        return NULL;
      for (guint i = 0; i < warnings->len; i++)
        g_warning ("%s", (const char *) g_ptr_array_index (warnings, i));
    }
  if (!sp_config_load_file (config, path, self->options.config_path != NULL, error))
    return NULL;
  if (!sp_config_validate (config, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  return g_steal_pointer (&config);
}

/* defaults < ksmtuned.conf < samepaged.conf < overrides.conf < command line */
static SpConfig *
load_config (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) base = load_base_config (self, error);
  SpConfig *config;

  if (base == NULL)
    return NULL;
  config = sp_overrides_load (self->overrides, base);
  if (self->options.connect_uri != NULL)
    {
      g_free (config->connect_uri);
      config->connect_uri = g_strdup (self->options.connect_uri);
    }
  if (self->options.metrics_textfile != NULL)
    {
      g_free (config->metrics_textfile);
      config->metrics_textfile = g_strdup (self->options.metrics_textfile);
    }
  return config;
}

/* After each decision: the metrics textfile and systemd's STATUS line. */
static void
on_tuned (SpTuner *tuner, SpSnapshot *snapshot, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);
  g_autoptr (GError) error = NULL;
  g_autofree char *status = NULL;

  /* resync_interval may have changed (SetTuning, SIGHUP) */
  sp_libvirt_set_resync_interval (self->libvirt, snapshot->config->resync_interval_sec);

  /* --dry-run writes nothing, the metrics file included */
  if (snapshot->config->metrics_textfile != NULL && !self->options.dry_run)
    {
      if (!sp_metrics_write (snapshot, snapshot->config->metrics_textfile, &error))
        {
          if (sp_log_once_changed (&self->metrics_problem, error->message))
            g_warning ("%s", error->message);
          g_clear_error (&error);
        }
      else if (sp_log_once_reset (&self->metrics_problem))
        g_message ("Metrics written to %s again", snapshot->config->metrics_textfile);
    }
  status =
      g_strdup_printf ("STATUS=%s", snapshot->decision.reason ? snapshot->decision.reason : "");
  if (!sp_notify (status, &error))
    g_debug ("sd_notify: %s", error->message);
}

/* The first decision waits this long at most for the first domain list. */
#define FIRST_GUESTS_TIMEOUT_S 5

static void
start_tuner (SpDaemon *self)
{
  g_autoptr (GError) error = NULL;

  g_clear_handle_id (&self->first_guests_id, g_source_remove);
  self->tuner_started = TRUE;
  sp_tuner_start (self->tuner);
  if (!sp_notify ("READY=1", &error))
    g_debug ("sd_notify: %s", error->message);
}

/* A refresh landed: the decision and the knobs follow in this call, with
 * no timer between (the reaction time is the refresh's). */
static void
on_guests_changed (SpLibvirt *libvirt, SpGuests *guests, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  sp_tuner_set_guests (self->tuner, guests);
  if (!self->tuner_started)
    start_tuner (self);
  else
    sp_tuner_retune (self->tuner);
}

/* Retune over D-Bus: the domain list is resynced too (its refresh retunes
 * again when it lands). */
static void
on_retune_requested (SpTuner *tuner, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  if (self->tuning)
    sp_libvirt_resync (self->libvirt, "Retune");
}

static gboolean
on_first_guests_timeout (gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  self->first_guests_id = 0;
  g_message ("No domain list from libvirt after %d s; tuning from /proc/meminfo meanwhile",
             FIRST_GUESTS_TIMEOUT_S);
  start_tuner (self);
  return G_SOURCE_REMOVE;
}

/* The first decision waits for the first domain list (or a timeout), so it
 * does not count 0 guest memory on a busy host for a moment. */
static void
start_tuning (SpDaemon *self)
{
  if (self->tuning)
    return;
  self->tuning = TRUE;
  self->first_guests_id =
      g_timeout_add_seconds (FIRST_GUESTS_TIMEOUT_S, on_first_guests_timeout, self);
  sp_libvirt_start (self->libvirt);
}

static void
quit (SpDaemon *self, int exit_code)
{
  g_signal_emit (self, signals[SIGNAL_QUIT], 0, exit_code);
}

static void
on_name_acquired (GDBusConnection *connection, const char *name, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  self->name_owned = TRUE;
  g_message ("D-Bus API on the system bus as %s", name);
  start_tuning (self);
}

/* Another samepaged would fight over the same knobs: never run without the
 * name once the bus answered. */
static void
on_name_lost (GDBusConnection *connection, const char *name, gpointer user_data)
{
  SpDaemon *self = SP_DAEMON (user_data);

  if (!self->name_owned)
    g_warning ("Cannot own %s on the system bus: another samepaged is running, or the bus "
               "policy (org.samepage1.conf in dbus-1/system.d) does not let this user own it; "
               "stopping",
               name);
  else if (connection == NULL || g_dbus_connection_is_closed (connection))
    g_warning ("Lost %s: the system bus connection closed; stopping", name);
  else
    g_warning ("Lost %s on the system bus; stopping", name);
  self->name_owned = FALSE;
  quit (self, 1);
}

static void
on_bus_ready (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = g_bus_get_finish (result, &error);
  g_autoptr (SpAuthority) authority = NULL;
  SpDaemon *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = SP_DAEMON (user_data);

  /* KSM tuning does not need the bus: without one, tune (like ksmtuned) */
  if (bus == NULL)
    {
      g_message ("No system bus: D-Bus API unavailable, tuning without it (%s)", error->message);
      start_tuning (self);
      return;
    }

  /* a closed connection ends with "name lost", not with SIGTERM */
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  self->bus = g_steal_pointer (&bus);
  authority = sp_authority_new ();
  self->service =
      sp_dbus_service_new (self->tuner, self->overrides, self->mem_merge, authority, &error);
  if (self->service != NULL)
    {
      g_autoptr (SpBalloonSettings) balloon_settings = sp_balloon_settings_new (self->libvirt);

      sp_dbus_service_set_balloon_settings (self->service, balloon_settings);
    }
  if (self->service == NULL || !sp_dbus_service_export (self->service, self->bus, &error))
    {
      g_warning ("Cannot export the D-Bus API: %s", error->message);
      quit (self, 1);
      return;
    }
  self->name_id =
      g_bus_own_name_on_connection (self->bus, SP_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                    on_name_acquired, on_name_lost, self, NULL);
}

/* Guest balloons: the policy decides after the KSM policy, the actuator
 * applies after the KSM knobs (sp-balloon-policy.h, sp-balloon-actuator.h). */
static void
add_balloon_parts (SpDaemon *self)
{
  g_autoptr (SpPolicy) policy = sp_balloon_policy_new ();
  g_autoptr (SpActuator) actuator = sp_balloon_actuator_new (self->libvirt, self->options.dry_run);

  sp_balloon_actuator_set_state_dir (SP_BALLOON_ACTUATOR (actuator), self->options.state_dir);
  sp_tuner_add_policy (self->tuner, policy);
  sp_tuner_add_actuator (self->tuner, actuator);
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
             self->options.sysfs_root,
             self->options.dry_run ? " (dry run: nothing is written)" : "");

  self->tuner = sp_tuner_new (config, self->options.sysfs_root, self->options.procfs_root,
                              self->options.dry_run);
  sp_tuner_set_state_dir (self->tuner, self->options.state_dir);
  sp_overrides_set_tuner (self->overrides, self->tuner);
  self->libvirt =
      sp_libvirt_new (config->connect_uri, self->options.procfs_root, SP_LIBVIRT_QEMU_PID_DIR);
  sp_libvirt_set_resync_interval (self->libvirt, config->resync_interval_sec);
  self->mem_merge = sp_mem_merge_new (self->libvirt);
  add_balloon_parts (self);
  sp_mem_merge_set_dry_run (self->mem_merge, self->options.dry_run);
  g_signal_connect (self->libvirt, "guests-changed", G_CALLBACK (on_guests_changed), self);
  g_signal_connect (self->tuner, "tuned", G_CALLBACK (on_tuned), self);
  g_signal_connect (self->tuner, "retune-requested", G_CALLBACK (on_retune_requested), self);

  /* tuning starts once the bus name is ours (or there is no bus) */
  g_bus_get (G_BUS_TYPE_SYSTEM, self->cancellable, on_bus_ready, self);
  return TRUE;
}

gboolean
sp_daemon_reload (SpDaemon *self, GError **error)
{
  g_autoptr (SpConfig) config = NULL;

  g_return_val_if_fail (SP_IS_DAEMON (self), FALSE);

  /* whatever the file says, the domain list is resynced */
  if (self->tuning)
    sp_libvirt_resync (self->libvirt, "SIGHUP");
  config = load_config (self, error);
  if (config == NULL)
    {
      g_prefix_error (error, "Keeping the previous configuration: ");
      return FALSE;
    }
  sp_libvirt_set_resync_interval (self->libvirt, config->resync_interval_sec);
  if (sp_config_equal (config, sp_tuner_get_config (self->tuner)))
    {
      g_message ("Configuration reloaded: unchanged");
      return TRUE;
    }
  if (g_strcmp0 (config->connect_uri, sp_tuner_get_config (self->tuner)->connect_uri) != 0)
    g_message ("The libvirt URI changed; it takes effect when samepaged restarts");
  g_message ("Configuration reloaded: mode %s, tick every %u s", sp_mode_to_string (config->mode),
             config->monitor_interval_sec);
  sp_tuner_set_config (self->tuner, config);
  return TRUE;
}

static void
on_service_drained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = G_TASK (user_data);

  sp_dbus_service_drain_finish (SP_DBUS_SERVICE (source), result, NULL);
  g_task_return_boolean (task, TRUE);
}

void
sp_daemon_drain_async (SpDaemon *self, GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr (GTask) task = NULL;

  g_return_if_fail (SP_IS_DAEMON (self));

  task = g_task_new (self, NULL, callback, user_data);
  g_task_set_source_tag (task, sp_daemon_drain_async);
  if (self->service == NULL)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  sp_dbus_service_drain_async (self->service, SP_DAEMON_DRAIN_TIMEOUT_S, on_service_drained,
                               g_steal_pointer (&task));
}

void
sp_daemon_drain_finish (SpDaemon *self, GAsyncResult *result)
{
  g_return_if_fail (g_task_is_valid (result, self));
  g_task_propagate_boolean (G_TASK (result), NULL);
}

void
sp_daemon_stop (SpDaemon *self)
{
  g_autoptr (GError) error = NULL;

  g_return_if_fail (SP_IS_DAEMON (self));

  if (self->tuner == NULL)
    return;
  if (!sp_tuner_restore (self->tuner, &error))
    g_warning ("Could not put back everything samepaged changed: %s", error->message);
}
