/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ksmctl monitor: one line per Tuned signal, one per change of the balloon policy's
 * reason, and one per guest whose balloon starts to move (or times out), until
 * SIGINT/SIGTERM. */
#define G_LOG_DOMAIN "ksmctl"

#include <signal.h>
#include <stdio.h>

#include <glib-unix.h>

#include "ksmctl.h"
#include "sp-names.h"

typedef struct {
  Ksmctl *ctl;
  GMainLoop *loop;
  GError *error;       /* why the loop ended, NULL for a signal */
  int owner_state;     /* -1 not known yet, 0 absent, 1 present */
  GHashTable *domains; /* object path → a{sv}: the Domain properties as last seen */
  GCancellable *cancellable;
  guint n_fetching; /* GetAll calls not answered yet */
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

/* A balloon line: with --json the object of builder, else text after the local time. */
static void
print_balloon_line (Monitor *mon, JsonBuilder *builder, const char *text)
{
  if (mon->ctl->json)
    {
      g_autoptr (JsonNode) root = json_builder_get_root (builder);

      ksmctl_print_json (root, FALSE);
    }
  else
    {
      g_autoptr (GDateTime) now = g_date_time_new_now_local ();
      g_autofree char *when = g_date_time_format (now, "%Y-%m-%d %H:%M:%S");

      g_print ("%s  balloon  %s\n", when, text);
      fflush (stdout);
    }
}

/* The balloon policy's view of the host changed: one "balloon" line. */
static void
host_changed (Monitor *mon, GVariant *changed)
{
  g_autoptr (JsonBuilder) builder = NULL;
  const char *reason;

  if (!g_variant_lookup (changed, "BalloonReason", "&s", &reason))
    return;
  builder = json_builder_new ();
  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "balloon");
  json_builder_add_string_value (builder, reason);
  json_builder_end_object (builder);
  print_balloon_line (mon, builder, reason);
}

/* ---- guests' balloons --------------------------------------------------- */

static void
variant_unref0 (gpointer variant)
{
  if (variant != NULL)
    g_variant_unref (variant);
}

static const char *
balloon_state (GVariant *props)
{
  const char *state = props != NULL ? ksmctl_dict_string (props, "BalloonState") : NULL;

  return state != NULL ? state : "";
}

/* The balloon of a domain whose properties were before and are now after (before NULL: not
 * seen yet) started to move, took another step or timed out. */
static gboolean
balloon_moved (GVariant *before, GVariant *after)
{
  const char *state = balloon_state (after);

  if (g_strcmp0 (state, "shrink") != 0 && g_strcmp0 (state, "grow") != 0 &&
      g_strcmp0 (state, "timed-out") != 0)
    return FALSE;
  if (before == NULL || g_strcmp0 (balloon_state (before), state) != 0)
    return TRUE;
  return g_strcmp0 (state, "timed-out") != 0 && ksmctl_dict_int (before, "BalloonTargetKiB") !=
                                                    ksmctl_dict_int (after, "BalloonTargetKiB");
}

/* "g1: balloon shrink 256.0 MiB → 230.4 MiB (pressure: shrink to 230.4 MiB)"; "at SIZE"
 * when it has no target other than its current size. */
static void
print_balloon_move (Monitor *mon, GVariant *props)
{
  const char *name = ksmctl_dict_string (props, "Name");
  const char *reason = ksmctl_dict_string (props, "BalloonReason");
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autofree char *arrow = g_strdup_printf (" %s ", ksmctl_arrow ());
  g_autofree char *move = ksmctl_balloon_move (props, arrow);
  g_autofree char *at = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (builder);
  ksmctl_json_add_dict_member (builder, "domain", props, "Name");
  ksmctl_json_add_dict_member (builder, "uuid", props, "Uuid");
  ksmctl_json_add_dict_member (builder, "balloon_state", props, "BalloonState");
  ksmctl_json_add_dict_member (builder, "current_kib", props, "CurrentKiB");
  ksmctl_json_add_dict_member (builder, "balloon_target_kib", props, "BalloonTargetKiB");
  ksmctl_json_add_dict_member (builder, "balloon_reason", props, "BalloonReason");
  json_builder_end_object (builder);

  if (move == NULL)
    {
      g_autofree char *current = sp_format_kib (ksmctl_dict_int (props, "CurrentKiB"));
      at = g_strconcat ("at ", current, NULL);
    }
  text = g_strdup_printf ("%s: balloon %s %s (%s)", name != NULL ? name : "?",
                          balloon_state (props), move != NULL ? move : at,
                          reason != NULL && *reason != '\0' ? reason : "no reason given");
  print_balloon_line (mon, builder, text);
}

/* The changes of PropertiesChanged merged into props. */
static GVariant *
merge_properties (GVariant *props, GVariant *changed)
{
  g_autoptr (GVariantDict) dict = g_variant_dict_new (props);
  GVariantIter iter;
  const char *name;
  GVariant *value;

  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &name, &value))
    {
      g_variant_dict_insert_value (dict, name, value);
      g_variant_unref (value);
    }
  return g_variant_ref_sink (g_variant_dict_end (dict));
}

typedef struct {
  Monitor *mon;
  char *path;
} Fetch;

/* A domain not seen before: all its properties, printed if its balloon moves. */
static void
on_domain_fetched (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autofree Fetch *fetch = user_data;
  g_autofree char *path = fetch->path;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply =
      g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  Monitor *mon = fetch->mon;
  GVariant *props;

  mon->n_fetching--;
  if (reply == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_hash_table_remove (mon->domains, path);
      return;
    }
  g_variant_get (reply, "(@a{sv})", &props);
  g_hash_table_replace (mon->domains, g_steal_pointer (&path), props);
  if (balloon_moved (NULL, props))
    print_balloon_move (mon, props);
}

/* A Domain object changed: a line when its balloon moved. */
static void
domain_changed (Monitor *mon, GDBusConnection *bus, const char *path, GVariant *changed)
{
  GVariant *before;
  GVariant *after;
  Fetch *fetch;

  if (!g_hash_table_lookup_extended (mon->domains, path, NULL, (gpointer *) &before))
    {
      if (!g_variant_lookup (changed, "BalloonState", "s", NULL) &&
          !g_variant_lookup (changed, "BalloonTargetKiB", "t", NULL))
        return;
      /* being fetched (NULL) until the answer comes */
      g_hash_table_insert (mon->domains, g_strdup (path), NULL);
      fetch = g_new0 (Fetch, 1);
      fetch->mon = mon;
      fetch->path = g_strdup (path);
      mon->n_fetching++;
      g_dbus_connection_call (bus, SP_DBUS_NAME, path, "org.freedesktop.DBus.Properties", "GetAll",
                              g_variant_new ("(s)", SP_DBUS_INTERFACE_DOMAIN),
                              G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, -1,
                              mon->cancellable, on_domain_fetched, fetch);
      return;
    }
  if (before == NULL)
    return;
  after = merge_properties (before, changed);
  if (balloon_moved (before, after))
    print_balloon_move (mon, after);
  g_hash_table_replace (mon->domains, g_strdup (path), after);
}

/* PropertiesChanged of the Manager (the host's balloon reason) or of a Domain. */
static void
on_properties_changed (GDBusConnection *bus, const char *sender, const char *path,
                       const char *interface, const char *signal_name, GVariant *parameters,
                       gpointer user_data)
{
  Monitor *mon = user_data;
  g_autoptr (GVariant) changed = NULL;
  const char *iface;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (parameters, "(&s@a{sv}@as)", &iface, &changed, NULL);
  if (g_strcmp0 (iface, SP_DBUS_INTERFACE_MANAGER) == 0 && g_strcmp0 (path, SP_DBUS_PATH) == 0)
    host_changed (mon, changed);
  else if (g_strcmp0 (iface, SP_DBUS_INTERFACE_DOMAIN) == 0)
    domain_changed (mon, bus, path, changed);
}

/* The domains as they are now, as the changes to come are merged into. */
static gboolean
load_domains (Monitor *mon, GError **error)
{
  g_autoptr (GPtrArray) domains = ksmctl_get_domains (mon->ctl, error);

  if (domains == NULL)
    return FALSE;
  for (guint i = 0; i < domains->len; i++)
    {
      char *path = NULL;
      GVariant *props = NULL;

      g_variant_get (domains->pdata[i], "(o@a{sv})", &path, &props);
      g_hash_table_replace (mon->domains, path, props);
    }
  return TRUE;
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
  /* a new samepaged: the domains are fetched again as they change */
  g_hash_table_remove_all (mon->domains);
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
  g_autoptr (GHashTable) domains =
      g_hash_table_new_full (g_str_hash, g_str_equal, g_free, variant_unref0);
  g_autoptr (GCancellable) cancellable = g_cancellable_new ();
  Monitor mon = { ctl, loop, NULL, -1, domains, cancellable, 0 };
  GDBusConnection *bus;
  guint subscription;
  guint properties_subscription;
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
  /* the Manager's and every Domain object's */
  properties_subscription = g_dbus_connection_signal_subscribe (
      bus, SP_DBUS_NAME, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, NULL,
      G_DBUS_SIGNAL_FLAGS_NONE, on_properties_changed, &mon, NULL);
  /* Answered after the bus has added the match rules: no decision is missed from here on,
   * and an absent samepaged is an error (exit 4) rather than a silent wait. */
  mode = ksmctl_get_manager_property (ctl, "Mode", error);
  if (mode == NULL || !load_domains (&mon, error))
    {
      g_dbus_connection_signal_unsubscribe (bus, subscription);
      g_dbus_connection_signal_unsubscribe (bus, properties_subscription);
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
  g_dbus_connection_signal_unsubscribe (bus, properties_subscription);
  g_cancellable_cancel (cancellable);
  while (mon.n_fetching > 0)
    g_main_context_iteration (NULL, TRUE);
  if (mon.error != NULL)
    {
      g_propagate_error (error, mon.error);
      return FALSE;
    }
  return TRUE;
}
