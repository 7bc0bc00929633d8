/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the unit tests (tests/test-*.c): the test data, temporary
 * trees and files (and a temporary directory fixture), assertions, a
 * writable KSM sysfs tree, main-loop waits and a libvirt
 * watcher on the test driver, a dry-run tuner, log capture and a private
 * D-Bus bus. Every helper fails the test (g_assert) when
 * what it does fails, so a test reads as what it checks.
 */
#pragma once

#include <gio/gio.h>

#include "sp-config.h"
#include "sp-ksm.h"
#include "sp-libvirt.h"
#include "sp-tuner.h"

G_BEGIN_DECLS

/* ---- the test data (tests/data) ---------------------------------------- */

/* tests/data/<subdir>/<name>; subdir NULL: tests/data/<name>. */
char *sp_test_data_path (const char *subdir, const char *name);
/* The contents of tests/data/<subdir>/<name>; len (may be NULL) its length. */
char *sp_test_load_data (const char *subdir, const char *name, gsize *len);
/* test://<absolute path of tests/data/libvirt/<node_xml>>: libvirt's test driver. */
char *sp_test_libvirt_uri (const char *node_xml);

/* ---- temporary trees and files ----------------------------------------- */

/* A new directory in the temporary directory, named after the test program. */
char *sp_test_make_tmp_dir (void);
/* Removes path and, a directory, everything below it; symbolic links are
 * removed, never followed. */
void sp_test_remove_tree (const char *path);
/* A copy of the directory tree src at dst (created). */
void sp_test_copy_tree (const char *src, const char *dst);
/* Writes path (len -1: contents is a string), creating its parents. */
void sp_test_write_file (const char *path, const char *contents, gssize len);
/* sp_test_write_file() of dir/relative. */
void sp_test_write_in (const char *dir, const char *relative, const char *contents, gssize len);
/* The contents of path; len (may be NULL) its length. */
char *sp_test_read_file (const char *path, gsize *len);
/* Creates dir/relative and its parents. */
void sp_test_make_dir_in (const char *dir, const char *relative);

/*
 * A temporary directory as a g_test_add() fixture, removed with everything
 * in it at the end of the test:
 *   g_test_add ("/x", SpTestTmpDir, NULL, sp_test_tmp_dir_setup, test_x,
 *               sp_test_tmp_dir_teardown);
 */
typedef struct {
  char *dir;
} SpTestTmpDir;

void sp_test_tmp_dir_setup (SpTestTmpDir *tmp, gconstpointer data);
void sp_test_tmp_dir_teardown (SpTestTmpDir *tmp, gconstpointer data);
/* Writes the string contents to tmp->dir/name; returns its path. */
char *sp_test_tmp_dir_write (SpTestTmpDir *tmp, const char *name, const char *contents);

/* ---- assertions ----------------------------------------------------------- */

/* Fails the test unless haystack contains needle. */
void sp_test_assert_contains (const char *haystack, const char *needle);
/* The integer config key name (fails the test if there is none). */
const SpConfigIntKey *sp_test_int_key (const char *name);

/* ---- a writable KSM sysfs tree ----------------------------------------- */

typedef struct {
  char *root;    /* what samepaged takes as --sysfs-root */
  char *ksm_dir; /* root/kernel/mm/ksm */
} SpTestSysfs;

/* A temporary copy of tests/data/<fixture> (a sysfs tree); fixture NULL:
 * an empty root/kernel/mm/ksm. */
void sp_test_sysfs_init (SpTestSysfs *t, const char *fixture);
/* Removes the tree. */
void sp_test_sysfs_clear (SpTestSysfs *t);
/* ksm_dir/name. */
char *sp_test_sysfs_path (SpTestSysfs *t, const char *name);
void sp_test_sysfs_set (SpTestSysfs *t, const char *name, const char *contents);
char *sp_test_sysfs_get (SpTestSysfs *t, const char *name);
/* sp_test_sysfs_get() without the trailing white space ("0\n" -> "0"). */
char *sp_test_sysfs_knob (SpTestSysfs *t, const char *name);

/* ---- KSM state ---------------------------------------------------------- */

/* field is present in ksm with value. */
void sp_test_ksm_set (SpKsmState *ksm, SpKsmField field, gint64 value);

/* ---- the main loop ------------------------------------------------------ */

/* A time limit for a main-loop wait:
 *   sp_test_timeout_start (&t, 20);
 *   while (!done && !t.expired)
 *     g_main_context_iteration (NULL, TRUE);
 *   sp_test_timeout_finish (&t);   (fails the test if the limit was reached)
 */
typedef struct {
  gboolean expired;
  guint id;
} SpTestTimeout;

void sp_test_timeout_start (SpTestTimeout *t, guint seconds);
/* The same with a limit of ms milliseconds. */
void sp_test_timeout_start_ms (SpTestTimeout *t, guint ms);
void sp_test_timeout_finish (SpTestTimeout *t);
/* Lets pending events and refreshes run for ms milliseconds. */
void sp_test_settle (guint ms);
/* Iterates the main loop until *counter exceeds n (20 s at most). */
void sp_test_wait_count (const guint *counter, guint n);

/* ---- a libvirt watcher on the test driver ------------------------------- */

typedef struct {
  SpLibvirt *libvirt;
  SpGuests *last; /* the last guests-changed */
  guint n_changed;
} SpTestWatch;

/* An SpLibvirt on sp_test_libvirt_uri (node_xml), started; returns once it
 * is connected and published a refresh with domains. */
void sp_test_watch_start (SpTestWatch *w, const char *node_xml);
/* The same over a fake procfs tree and pid directory whose QEMU facts are
 * read although the test driver is not QEMU. */
void sp_test_watch_start_full (SpTestWatch *w, const char *node_xml, const char *procfs_root,
                               const char *pid_dir);
/* Iterates the main loop until the watch saw more than n changes (20 s at most). */
void sp_test_watch_wait_changes (SpTestWatch *w, guint n);
/* A handler for any signal that hands over an SpGuests (SpLibvirt's
 * "guests-changed", SpGuestQuery's "refreshed"), user_data an SpTestWatch:
 * counts the signal in n_changed and keeps the guests in last. */
void sp_test_watch_record (gpointer source, SpGuests *guests, gpointer user_data);
/* Disconnects from and drops the watcher: a refresh still running does not
 * publish into w. */
void sp_test_watch_stop (SpTestWatch *w);

/* ---- a dry-run tuner, log capture, a private bus ------------------------- */

/*
 * A started, dry-run tuner (config NULL: the defaults) over
 * tests/data/sysfs-6.18 and <root>/proc/meminfo (a copy of
 * tests/data/meminfo-6.18.txt): it decides once at start and on each
 * retune.
 */
SpTuner *sp_test_tuner_new (const char *root, const SpConfig *config);

/*
 * From now on, warnings and messages of the log domains that start with
 * "samepaged" are recorded as "WARNING <message>" / "MESSAGE <message>", info lines as "INFO
 * <SAMEPAGE_DOMAIN field, or -> <message>" (and printed as TAP comments) instead of going to
 * stderr; a warning is then not fatal. Everything else goes to GLib's default writer.
 */
void sp_test_log_capture (void);

/* Lines recorded since the last sp_test_log_clear() that match pattern
 * (g_pattern_match_simple). */
guint sp_test_log_count (const char *pattern);
/* The same lines, of log domain domain only (NULL: of any), oldest first. */
char **sp_test_log_lines (const char *domain, const char *pattern);
void sp_test_log_clear (void);

/*
 * A private message bus for the test program, which is also its system
 * bus (nothing owns org.freedesktop.PolicyKit1 there: SpAuthority falls
 * back to root only). Call before anything connects to a bus.
 */
GTestDBus *sp_test_bus_up (void);

/* g_test_run(), then bus down and unreferenced: g_test_run()'s status. */
int sp_test_run_with_bus (GTestDBus *bus);

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

/* Runs the main loop until *flag is set or timeout_ms passed; TRUE if set. */
gboolean sp_test_spin_until (const gboolean *flag, guint timeout_ms);

/* ---- the kernel's part of KSM writes, on a fake tree --------------------- */

/*
 * While started, every sp_ksm_write() to the tree behaves as the kernel's
 * KSM does:
 * - writing advisor_mode with another mode resets pages_to_scan (100 for
 *   none, advisor_min_pages_to_scan for scan-time);
 * - pages_to_scan is refused (EINVAL) while the advisor runs;
 * - merge_across_nodes is refused (EBUSY) while pages_shared > 0, or always
 *   with refuse_merge_across_nodes;
 * - run=2 drops pages_shared and pages_sharing to 0 unmerge_delay_ms later
 *   (on the main loop); -1: never.
 * With record_path set, each write of a knob that is not in that file yet
 * (the ksm-originals record) counts in n_unrecorded_writes, and each write
 * that finds the record's contents changed since the write before counts
 * in n_record_versions (how often it was replaced between writes).
 */
typedef struct {
  SpTestSysfs *sysfs;
  int unmerge_delay_ms;
  gboolean refuse_merge_across_nodes;
  const char *record_path;
  guint n_unrecorded_writes; /* atomic */
  guint n_writes;            /* atomic */
  guint n_record_versions;
  char *last_record; /* what the last write found in record_path */
} SpTestFakeKernel;

void sp_test_fake_kernel_start (SpTestFakeKernel *k, SpTestSysfs *sysfs);
void sp_test_fake_kernel_stop (SpTestFakeKernel *k);

G_END_DECLS
