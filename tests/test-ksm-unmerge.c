/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unmerging every merged page, and merge_across_nodes the safe way, on a
 * fake sysfs tree whose "kernel" (sp_test_fake_kernel) unmerges after a
 * delay and refuses merge_across_nodes while pages are shared. */
#include <glib/gstdio.h>
#include <string.h>

#include "sp-error.h"
#include "sp-ksm-unmerge.h"
#include "sp-test.h"

typedef struct {
  SpTestSysfs sysfs;
  SpTestFakeKernel kernel;
  SpKsmActuator *actuator;
  GError *error;
  gboolean done;
  gboolean ok;
} Fixture;

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  sp_test_sysfs_init (&f->sysfs, "sysfs-6.18");
  /* KSM running, with merged pages, merging across nodes */
  sp_test_sysfs_set (&f->sysfs, "run", "1\n");
  sp_test_sysfs_set (&f->sysfs, "pages_shared", "50\n");
  sp_test_sysfs_set (&f->sysfs, "pages_sharing", "300\n");
  sp_test_sysfs_set (&f->sysfs, "merge_across_nodes", "1\n");
  f->kernel.unmerge_delay_ms = 300;
  sp_test_fake_kernel_start (&f->kernel, &f->sysfs);
  f->actuator = sp_ksm_actuator_new (f->sysfs.root, FALSE);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  /* the fake kernel's pending unmerge, if any */
  sp_test_settle (400);
  sp_test_fake_kernel_stop (&f->kernel);
  g_clear_object (&f->actuator);
  g_clear_error (&f->error);
  sp_test_sysfs_clear (&f->sysfs);
}

static char *
knob (Fixture *f, const char *name)
{
  return g_strstrip (sp_test_sysfs_get (&f->sysfs, name));
}

static void
on_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Fixture *f = user_data;

  f->ok = sp_ksm_unmerge_finish (result, &f->error);
  f->done = TRUE;
}

static void
run_unmerge (Fixture *f, gint64 merge_across_nodes, guint timeout_ms)
{
  SpKsmUnmergeOptions options = {
    .merge_across_nodes = merge_across_nodes,
    .timeout_ms = timeout_ms,
    .poll_ms = 20,
  };

  sp_ksm_unmerge_async (f->actuator, f->sysfs.root, &options, on_done, f);
  g_assert_true (sp_test_spin_until (&f->done, 10000));
}

static void
test_check (void)
{
  SpKsmState ksm = { 0 };
  SpMeminfo mem = { .total_kib = 100000 };
  g_autoptr (GError) error = NULL;
  g_autofree char *message = NULL;

  /* 1000 pages of 4 KiB to split + a 2048 KiB threshold = 6048 KiB */
  ksm.available = TRUE;
  sp_test_ksm_set (&ksm, SP_KSM_PAGES_SHARING, 1000);
  mem.available_kib = 6048;
  g_assert_true (sp_ksm_unmerge_check (&ksm, &mem, 2048, 4, &error));
  g_assert_no_error (error);

  mem.available_kib = 6047;
  g_assert_false (sp_ksm_unmerge_check (&ksm, &mem, 2048, 4, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  /* the numbers an operator needs */
  g_assert_nonnull (strstr (error->message, "1000 pages_sharing"));
  g_assert_nonnull (strstr (error->message, "MemAvailable"));
  message = g_strdup (error->message);
  g_assert_nonnull (strstr (message, "3.9 MiB")); /* 4000 KiB to split */
  g_assert_nonnull (strstr (message, "2.0 MiB")); /* the threshold */
  g_assert_nonnull (strstr (message, "5.9 MiB")); /* MemAvailable */
}

/* run=2, wait for pages_shared 0, write, run back; held meanwhile. */
static void
test_merge_across_nodes (Fixture *f, gconstpointer data)
{
  SpKsmUnmergeOptions options = { .merge_across_nodes = 0, .poll_ms = 20 };
  g_autofree char *run = NULL;
  g_autofree char *mac = NULL;
  g_autofree char *shared = NULL;

  sp_ksm_unmerge_async (f->actuator, f->sysfs.root, &options, on_done, f);
  /* the actuator writes nothing while the unmerge runs */
  g_assert_true (sp_ksm_actuator_is_held (f->actuator));
  sp_test_settle (100);
  g_assert_false (f->done);
  run = knob (f, "run");
  g_assert_cmpstr (run, ==, "2");
  g_clear_pointer (&run, g_free);

  g_assert_true (sp_test_spin_until (&f->done, 10000));
  g_assert_no_error (f->error);
  g_assert_true (f->ok);
  mac = knob (f, "merge_across_nodes");
  run = knob (f, "run");
  shared = knob (f, "pages_shared");
  g_assert_cmpstr (mac, ==, "0");
  g_assert_cmpstr (run, ==, "1");
  g_assert_cmpstr (shared, ==, "0");
  g_assert_false (sp_ksm_actuator_is_held (f->actuator));
  /* run was recorded, to be restored on exit */
  g_assert_cmpuint (sp_ksm_actuator_get_n_changed (f->actuator), ==, 1);
}

/* Pages still shared at the timeout: an error with the count, run back,
 * merge_across_nodes unchanged. */
static void
test_timeout (Fixture *f, gconstpointer data)
{
  g_autofree char *run = NULL;
  g_autofree char *mac = NULL;
  g_autofree char *message = NULL;

  f->kernel.unmerge_delay_ms = -1;
  run_unmerge (f, 0, 300);
  g_assert_false (f->ok);
  g_assert_error (f->error, SP_ERROR, SP_ERROR_FAILED);
  message = g_strdup (f->error->message);
  g_assert_nonnull (strstr (message, "still shares 50 pages"));
  g_assert_nonnull (strstr (message, "merge_across_nodes not changed"));
  run = knob (f, "run");
  mac = knob (f, "merge_across_nodes");
  g_assert_cmpstr (run, ==, "1");
  g_assert_cmpstr (mac, ==, "1");
  g_assert_false (sp_ksm_actuator_is_held (f->actuator));
}

/* The kernel refuses the write (EBUSY) even once unmerged. */
static void
test_refused (Fixture *f, gconstpointer data)
{
  g_autofree char *run = NULL;
  g_autofree char *mac = NULL;

  f->kernel.refuse_merge_across_nodes = TRUE;
  run_unmerge (f, 0, 0);
  g_assert_false (f->ok);
  g_assert_error (f->error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_nonnull (strstr (f->error->message, "EBUSY"));
  run = knob (f, "run");
  mac = knob (f, "merge_across_nodes");
  g_assert_cmpstr (run, ==, "1");
  g_assert_cmpstr (mac, ==, "1");
}

/* Unmerge alone: run stays 2 (the caller's mode decides what follows). */
static void
test_unmerge_only (Fixture *f, gconstpointer data)
{
  g_autofree char *run = NULL;
  g_autofree char *sharing = NULL;
  g_autofree char *mac = NULL;

  run_unmerge (f, -1, 0);
  g_assert_no_error (f->error);
  g_assert_true (f->ok);
  run = knob (f, "run");
  sharing = knob (f, "pages_sharing");
  mac = knob (f, "merge_across_nodes");
  g_assert_cmpstr (run, ==, "2");
  g_assert_cmpstr (sharing, ==, "0");
  g_assert_cmpstr (mac, ==, "1");
}

static void
test_not_supported (Fixture *f, gconstpointer data)
{
  g_autofree char *path = sp_test_sysfs_path (&f->sysfs, "merge_across_nodes");
  g_autofree char *run = NULL;

  g_assert_cmpint (g_unlink (path), ==, 0);
  run_unmerge (f, 0, 0);
  g_assert_error (f->error, SP_ERROR, SP_ERROR_NOT_SUPPORTED);
  g_assert_nonnull (strstr (f->error->message, "not supported"));
  run = knob (f, "run");
  g_assert_cmpstr (run, ==, "1");
  g_assert_false (sp_ksm_actuator_is_held (f->actuator));
}

static void
test_conflict (Fixture *f, gconstpointer data)
{
  sp_ksm_actuator_set_held (f->actuator, TRUE);
  run_unmerge (f, -1, 0);
  g_assert_error (f->error, SP_ERROR, SP_ERROR_CONFLICT);
  sp_ksm_actuator_set_held (f->actuator, FALSE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  sp_test_log_capture ();
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  g_test_add_func ("/ksm-unmerge/check", test_check);
  ADD ("/ksm-unmerge/merge-across-nodes", test_merge_across_nodes);
  ADD ("/ksm-unmerge/timeout", test_timeout);
  ADD ("/ksm-unmerge/refused", test_refused);
  ADD ("/ksm-unmerge/unmerge-only", test_unmerge_only);
  ADD ("/ksm-unmerge/not-supported", test_not_supported);
  ADD ("/ksm-unmerge/conflict", test_conflict);
  return g_test_run ();
}
