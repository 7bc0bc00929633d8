/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl monitor: one line per Tuned signal, and one per change of the balloon policy's
 * reason, until SIGINT/SIGTERM. */
#define G_LOG_DOMAIN "ksmctl"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>

#include "ksmctl.h"
#include "sp-names.h"

typedef struct {
  Ksmctl *ctl;
  GMainLoop *loop;
  GError *error;   /* why the loop ended, NULL for a signal */
  int owner_state; /* -1 not known yet, 0 absent, 1 present */
} Monitor;

static void
print_decision (Monitor *mon, const char *action, const char *reason, gint64 time_us)
{
  if (mon->ctl->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      ksmctl_json_add_decision (builder, action, reason, time_us);
      root = json_builder_get_root (builder);
      ksmctl_print_json (root, FALSE);
    }
  else
    {
      g_autofree char *when = ksmctl_format_time_local (time_us);

      g_print ("%s  %-4s  %s\n", when != NULL ? when : "-", action, reason);
      fflush (stdout);
    }
}

static void
on_tuned (GDBusConnection *bus, const char *sender, const char *path, const char *interface,
          const char *signal_name, GVariant *parameters, gpointer user_data)
{
  Monitor *mon = user_data;
  const char *action;
  const char *reason;
  guint64 time_us;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sst)")))
    return;
  g_variant_get (parameters, "(&s&st)", &action, &reason, &time_us);
  print_decision (mon, action, reason, (gint64) MIN (time_us, (guint64) G_MAXINT64));
}

/* The balloon policy's view of the host changed: one "balloon" line. */
static void
on_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *interface, const char *signal_name, GVariant *parameters,
                       gpointer user_data)
{
  Monitor *mon = user_data;
  g_autoptr (GVariant) changed = NULL;
  const char *iface;
  const char *reason;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (parameters, "(&s@a{sv}@as)", &iface, &changed, NULL);
  if (g_strcmp0 (iface, SP_DBUS_INTERFACE_MANAGER) != 0 ||
      !g_variant_lookup (changed, "BalloonReason", "&s", &reason))
    return;
  if (mon->ctl->json)
    {
      g_autoptr (JsonBuilder) builder = json_builder_new ();
      g_autoptr (JsonNode) root = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "balloon");
      json_builder_add_string_value (builder, reason);
      json_builder_end_object (builder);
      root = json_builder_get_root (builder);
      ksmctl_print_json (root, FALSE);
    }
  else
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      g_autofree char *when = g_date_time_format (now, "%Y-%m-%d %H:%M:%S");

      g_print ("%s  balloon  %s\n", when, reason);
      fflush (stdout);
    }
}

static void
on_name_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer user_data)
{
  Monitor *mon = user_data;

  if (mon->owner_state == 0)
    g_printerr ("ksmctl: samepaged is back on the bus\n");
  mon->owner_state = 1;
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Monitor *mon = user_data;

  if (mon->owner_state != 0)
    g_printerr ("ksmctl: samepaged left the bus; waiting for it to come back\n");
  mon->owner_state = 0;
}

static void
on_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error, gpointer user_data)
{
  Monitor *mon = user_data;

  if (mon->error == NULL)
    g_set_error (&mon->error, G_DBUS_ERROR, G_DBUS_ERROR_NO_SERVER,
                 "the connection to the system bus was closed%s%s", error ? ": " : "",
                 error ? error->message : "");
  g_main_loop_quit (mon->loop);
}

static gboolean
on_quit_signal (gpointer user_data)
{
  Monitor *mon = user_data;

  g_main_loop_quit (mon->loop);
  return G_SOURCE_CONTINUE;
}

gboolean
ksmctl_cmd_monitor (Ksmctl *ctl, int argc, char **argv, GError **error)
{
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (GVariant) mode = NULL;
  Monitor mon = { ctl, loop, NULL, -1 };
  GDBusConnection *bus;
  guint subscription;
  guint balloon_subscription;
  guint watch;
  guint sigint;
  guint sigterm;
  gulong closed_id;

  bus = ksmctl_get_bus (ctl, error);
  if (bus == NULL)
    return FALSE;
  subscription = g_dbus_connection_signal_subscribe (
      bus, SP_DBUS_NAME, SP_DBUS_INTERFACE_MANAGER, "Tuned", SP_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_tuned, &mon, NULL);
  balloon_subscription = g_dbus_connection_signal_subscribe (
      bus, SP_DBUS_NAME, "org.freedesktop.DBus.Properties", "PropertiesChanged", SP_DBUS_PATH, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &mon, NULL);
  /* Answered after the bus has added the match rule: no decision is missed from here on,
   * and an absent samepaged is an error (exit 4) rather than a silent wait. */
  mode = ksmctl_get_manager_property (ctl, "Mode", error);
  if (mode == NULL)
    {
      g_dbus_connection_signal_unsubscribe (bus, subscription);
      g_dbus_connection_signal_unsubscribe (bus, balloon_subscription);
      return FALSE;
    }

  g_dbus_connection_set_exit_on_close (bus, FALSE);
  closed_id = g_signal_connect (bus, "closed", G_CALLBACK (on_closed), &mon);
  watch = g_bus_watch_name_on_connection (bus, SP_DBUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, on_name_vanished, &mon, NULL);
  sigint = g_unix_signal_add (SIGINT, on_quit_signal, &mon);
  sigterm = g_unix_signal_add (SIGTERM, on_quit_signal, &mon);

  g_main_loop_run (loop);

  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_bus_unwatch_name (watch);
  g_signal_handler_disconnect (bus, closed_id);
  g_dbus_connection_signal_unsubscribe (bus, subscription);
  g_dbus_connection_signal_unsubscribe (bus, balloon_subscription);
  if (mon.error != NULL)
    {
      g_propagate_error (error, mon.error);
      return FALSE;
    }
  return TRUE;
}
