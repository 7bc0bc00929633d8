/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the tests of the D-Bus layer and of SpOverrides share: a dry-run
 * tuner over test data, a capture of what samepaged logs (warnings there are
 * outcomes to assert, not fatal), and removal of temporary trees.
 */
#pragma once

#include <gio/gio.h>

#include "sp-config.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

/* Removes path and everything below it. */
void sp_test_remove_tree (const char *path);

/*
 * A started, dry-run tuner (config NULL: the defaults) over
 * tests/data/sysfs-6.18 and <root>/proc/meminfo (a copy of
 * tests/data/meminfo-6.18.txt): it decides once at start and on each
 * retune.
 */
SpTuner *sp_test_tuner_new (const char *root, const SpConfig *config);

/*
 * From now on, warnings and messages of the log domains that start with
 * "samepaged" are recorded as "WARNING <message>" / "MESSAGE <message>"
 * (and printed as TAP comments) instead of going to stderr; a warning is
 * then not fatal. Everything else goes to GLib's default writer.
 */
void sp_test_log_capture (void);

/* Lines recorded since the last sp_test_log_clear() that match pattern
 * (g_pattern_match_simple). */
guint sp_test_log_count (const char *pattern);
void sp_test_log_clear (void);

/*
 * A private message bus for the test program, which is also its system
 * bus (nothing owns org.freedesktop.PolicyKit1 there: SpAuthority falls
 * back to root only). Call before anything connects to a bus.
 */
GTestDBus *sp_test_bus_up (void);

/* A new connection to bus, as a service or a client would have. */
GDBusConnection *sp_test_bus_connect (GTestDBus *bus);

/*
 * Calls method on the object at path of dest and runs the main loop until
 * the answer (the service answers from this main loop too). NULL with
 * error set when the call fails.
 */
GVariant *sp_test_call (GDBusConnection *client, const char *dest, const char *path,
                        const char *interface_name, const char *method, GVariant *parameters,
                        GError **error);

/* The D-Bus error name of error ("org.samepage1.Error.InvalidArgs"), and
 * its message without the "GDBus.Error:<name>: " prefix. */
char *sp_test_error_name (const GError *error);
char *sp_test_error_message (const GError *error);

/* Runs the main loop for ms milliseconds. */
void sp_test_spin (guint ms);

/* Runs the main loop until *flag is set or timeout_ms passed; TRUE if set. */
gboolean sp_test_spin_until (const gboolean *flag, guint timeout_ms);

G_END_DECLS
