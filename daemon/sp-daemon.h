/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDaemon ties the parts of samepaged together: config (load, SIGHUP
 * reload), the runtime overrides (SpOverrides), the tuner, the libvirt
 * watcher, per-domain memory merging (SpMemMerge) and the D-Bus service with
 * its bus name, which gets those objects at construction.
 */
#pragma once

#include <gio/gio.h>

#include "sp-overrides.h"

G_BEGIN_DECLS

typedef struct {
  char *config_path;   /* NULL: the default path, optional */
  char *ksmtuned_path; /* NULL: the default path; "" disables the import */
  char *sysfs_root;
  char *procfs_root;
  char *connect_uri;      /* overrides the config key */
  char *metrics_textfile; /* overrides the config key */
  char *state_dir;        /* NULL: SP_DEFAULT_STATE_DIR (sp-overrides.h) */
  gboolean dry_run;
  gboolean verbose;
} SpDaemonOptions;

#define SP_TYPE_DAEMON (sp_daemon_get_type ())
G_DECLARE_FINAL_TYPE (SpDaemon, sp_daemon, SP, DAEMON, GObject)

SpDaemon *sp_daemon_new (const SpDaemonOptions *options);

/*
 * Loads the config (errors name key, value and range), then connects to the
 * system bus and owns org.samepage1; tuning starts once the name is owned,
 * or at once when there is no system bus (the D-Bus API is then
 * unavailable). Losing the name later emits "quit" with exit code 1.
 */
gboolean sp_daemon_start (SpDaemon *self, GError **error);

/* SIGHUP: reloads the config and the runtime overrides; a bad config keeps
 * the old one (FALSE). */
gboolean sp_daemon_reload (SpDaemon *self, GError **error);

/*
 * SIGTERM, first step: new D-Bus calls are refused and the ones in progress
 * (a SetMemMerge waiting on libvirt) get their answer, for at most
 * SP_DAEMON_DRAIN_TIMEOUT_S; then the callback runs. Tuning goes on
 * meanwhile. Without the D-Bus API it completes at once.
 */
#define SP_DAEMON_DRAIN_TIMEOUT_S 10
void sp_daemon_drain_async (SpDaemon *self, GAsyncReadyCallback callback, gpointer user_data);
void sp_daemon_drain_finish (SpDaemon *self, GAsyncResult *result);

/* Stops, restoring the knobs samepaged changed unless configured not to. */
void sp_daemon_stop (SpDaemon *self);

G_END_DECLS
