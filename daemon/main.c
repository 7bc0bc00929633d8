/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged"

#include "config.h"

#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>

#include "sp-daemon.h"
#include "sp-log.h"

typedef struct {
  GMainLoop *loop;
  SpDaemon *daemon;
  int exit_code;
  gboolean terminating;
} SpMain;

static void
on_drained (GObject *source, GAsyncResult *result, gpointer user_data)
{
  SpMain *m = user_data;

  sp_daemon_drain_finish (SP_DAEMON (source), result);
  g_main_loop_quit (m->loop);
}

/* The D-Bus calls in progress are answered first; a second signal does not
 * wait for them. */
static gboolean
on_terminate (gpointer user_data)
{
  SpMain *m = user_data;

  if (m->terminating)
    {
      g_message ("Terminating now");
      g_main_loop_quit (m->loop);
      return G_SOURCE_CONTINUE;
    }
  g_message ("Terminating");
  m->terminating = TRUE;
  sp_daemon_drain_async (m->daemon, on_drained, m);
  return G_SOURCE_CONTINUE;
}

/* The daemon cannot go on (lost its bus name). */
static void
on_quit (SpDaemon *daemon, int exit_code, gpointer user_data)
{
  SpMain *m = user_data;

  m->exit_code = exit_code;
  g_main_loop_quit (m->loop);
}

static gboolean
on_hangup (gpointer user_data)
{
  SpMain *m = user_data;
  g_autoptr (GError) error = NULL;

  g_message ("SIGHUP: reloading the configuration");
  if (!sp_daemon_reload (m->daemon, &error))
    g_warning ("%s", error->message);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  SpDaemonOptions options = { 0 };
  gboolean version = FALSE;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (SpDaemon) daemon = NULL;
  g_auto (GStrv) args = NULL;
  SpMain m = { 0 };
  const GOptionEntry entries[] = {
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &options.config_path,
      "Configuration file (default " SP_DEFAULT_CONFIG ")", "FILE" },
    { "ksmtuned-config", 0, 0, G_OPTION_ARG_FILENAME, &options.ksmtuned_path,
      "ksmtuned configuration to import (default " SP_KSMTUNED_CONFIG "; \"\" to skip)", "FILE" },
    { "sysfs-root", 0, 0, G_OPTION_ARG_FILENAME, &options.sysfs_root,
      "Where sysfs is mounted (default /sys)", "DIR" },
    { "procfs-root", 0, 0, G_OPTION_ARG_FILENAME, &options.procfs_root,
      "Where procfs is mounted (default /proc)", "DIR" },
    { "connect", 0, 0, G_OPTION_ARG_STRING, &options.connect_uri,
      "libvirt URI (default: the config's connect key, else qemu:///system)", "URI" },
    { "metrics-textfile", 0, 0, G_OPTION_ARG_FILENAME, &options.metrics_textfile,
      "Write Prometheus metrics to FILE after each decision", "FILE" },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &options.state_dir,
      "Where runtime changes are kept (default " SP_DEFAULT_STATE_DIR ")", "DIR" },
    { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &options.dry_run,
      "Decide and log, but change nothing: no KSM knob, metrics file or overrides.conf is "
      "written; SetTuning/SetMode apply until SIGHUP or exit, SetMemMerge is refused",
      NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &options.verbose, "Log debug messages", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL },
  };

  setlocale (LC_ALL, "");

  context = g_option_context_new ("- libvirt-aware KSM tuning daemon");
  g_option_context_set_summary (context,
                                "samepaged tunes Kernel Samepage Merging (/sys/kernel/mm/ksm)\n"
                                "from host memory and the memory of running libvirt guests.");
  g_option_context_add_main_entries (context, entries, NULL);
  args = g_strdupv (argv);
  if (!g_option_context_parse_strv (context, &args, &error))
    {
      g_printerr ("samepaged: %s\nTry 'samepaged --help'.\n", error->message);
      return 2;
    }
  if (g_strv_length (args) > 1)
    {
      g_printerr ("samepaged: unexpected argument '%s'\nTry 'samepaged --help'.\n", args[1]);
      return 2;
    }
  if (version)
    {
      printf ("samepaged %s\n", PACKAGE_VERSION);
      return 0;
    }

  sp_log_setup (options.verbose);

  loop = g_main_loop_new (NULL, FALSE);
  daemon = sp_daemon_new (&options);
  m.loop = loop;
  m.daemon = daemon;

  g_unix_signal_add (SIGTERM, on_terminate, &m);
  g_unix_signal_add (SIGINT, on_terminate, &m);
  g_unix_signal_add (SIGHUP, on_hangup, &m);
  g_signal_connect (daemon, "quit", G_CALLBACK (on_quit), &m);

  if (!sp_daemon_start (daemon, &error))
    {
      g_printerr ("samepaged: %s\n", error->message);
      m.exit_code = 1;
    }
  else
    {
      g_main_loop_run (loop);
      sp_daemon_stop (daemon);
    }

  g_free (options.config_path);
  g_free (options.ksmtuned_path);
  g_free (options.sysfs_root);
  g_free (options.procfs_root);
  g_free (options.connect_uri);
  g_free (options.metrics_textfile);
  g_free (options.state_dir);
  return m.exit_code;
}
