/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SpDaemon ties the parts of samepaged together: config (load, SIGHUP
 * reload), the tuner, and (later) the libvirt watcher and the D-Bus service.
 */
#pragma once

#include <gio/gio.h>

#include "sp-libvirt.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

typedef struct {
  char *config_path;     /* NULL: the default path, optional */
  char *ksmtuned_path;   /* NULL: the default path; "" disables the import */
  char *sysfs_root;
  char *procfs_root;
  char *connect_uri;     /* overrides the config key */
  gboolean dry_run;
  gboolean verbose;
} SpDaemonOptions;

#define SP_TYPE_DAEMON (sp_daemon_get_type ())
G_DECLARE_FINAL_TYPE (SpDaemon, sp_daemon, SP, DAEMON, GObject)

SpDaemon *sp_daemon_new (const SpDaemonOptions *options);

/* Loads the config (errors name key, value and range) and starts tuning. */
gboolean sp_daemon_start (SpDaemon *self, GError **error);

/* SIGHUP: reloads the config; a bad config keeps the old one (FALSE). */
gboolean sp_daemon_reload (SpDaemon *self, GError **error);

SpTuner *sp_daemon_get_tuner (SpDaemon *self);
SpLibvirt *sp_daemon_get_libvirt (SpDaemon *self);

/* Stops, restoring the knobs samepaged changed unless configured not to. */
void sp_daemon_stop (SpDaemon *self);

G_END_DECLS
