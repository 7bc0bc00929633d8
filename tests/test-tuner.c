/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The tuner and its seam (sp-policy.h): the KSM policy and actuator are its
 * parts by default; a second policy and actuator added beside them see each
 * step of a pass in order, on the snapshot being built, and restore in
 * reverse order. */
#define G_LOG_DOMAIN "test-tuner"

#include <glib/gstdio.h>

#include "sp-error.h"
#include "sp-test.h"
#include "sp-tuner.h"

#define GIB (G_GUINT64_CONSTANT (1024) * 1024)

/* A temporary sysfs (kernel/mm/ksm) and, in the same directory, a procfs
 * (proc/meminfo) for one tuner. */
typedef struct {
  SpTestSysfs sysfs;
  char *procfs;
  GString *calls; /* what the test parts saw, in order */
} Fixture;

static char *
read_knob (Fixture *f, const char *name)
{
  return sp_test_sysfs_knob (&f->sysfs, name);
}

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  sp_test_sysfs_init (&f->sysfs, NULL);
  f->procfs = g_build_filename (f->sysfs.root, "proc", NULL);
  sp_test_sysfs_set (&f->sysfs, "run", "0\n");
  sp_test_sysfs_set (&f->sysfs, "pages_to_scan", "100\n");
  sp_test_sysfs_set (&f->sysfs, "sleep_millisecs", "20\n");
  sp_test_sysfs_set (&f->sysfs, "pages_sharing", "0\n");
  /* 16 GiB, 1 GiB available: under the 3.2 GiB threshold, KSM runs */
  sp_test_write_in (f->procfs, "meminfo",
                    "MemTotal:       16777216 kB\nMemFree:          524288 kB\n"
                    "MemAvailable:    1048576 kB\nBuffers:               0 kB\n"
                    "Cached:           524288 kB\n",
                    -1);
  f->calls = g_string_new (NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  sp_test_sysfs_clear (&f->sysfs);
  g_free (f->procfs);
  g_string_free (f->calls, TRUE);
}

static void
note (Fixture *f, const char *call)
{
  g_string_append_printf (f->calls, "%s%s", f->calls->len > 0 ? " " : "", call);
}

/* A second policy: decides after the KSM policy, from the same snapshot. */
#define TEST_TYPE_POLICY (test_policy_get_type ())
G_DECLARE_FINAL_TYPE (TestPolicy, test_policy, TEST, POLICY, GObject)

struct _TestPolicy {
  GObject parent_instance;
  Fixture *f;
};

static void test_policy_iface_init (SpPolicyInterface *iface);
G_DEFINE_TYPE_WITH_CODE (TestPolicy, test_policy, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_POLICY, test_policy_iface_init))

static void
test_policy_class_init (TestPolicyClass *klass)
{
}

static void
test_policy_init (TestPolicy *self)
{
}

static const char *
test_policy_get_name (SpPolicy *policy)
{
  return "test";
}

static void
test_policy_decide (SpPolicy *policy, const SpSnapshot *previous, SpSnapshot *next)
{
  TestPolicy *self = TEST_POLICY (policy);

  note (self->f, "decide");
  /* the inputs of this pass, the last published snapshot, and what the
   * policy before it decided */
  g_assert_cmpuint (next->serial, ==, previous->serial + 1);
  g_assert_cmpuint (next->mem.total_kib, ==, 16 * GIB);
  g_assert_true (next->ksm.available);
  g_assert_cmpint (sp_ksm_state_get (&next->ksm, SP_KSM_RUN), ==, 0);
  g_assert_nonnull (next->config);
  g_assert_nonnull (next->guests);
  g_assert_cmpint (next->decision.action, ==, SP_ACTION_RUN);
}

static void
test_policy_iface_init (SpPolicyInterface *iface)
{
  iface->get_name = test_policy_get_name;
  iface->decide = test_policy_decide;
}

/* A second actuator: applies after the KSM actuator, restores before it. */
#define TEST_TYPE_ACTUATOR (test_actuator_get_type ())
G_DECLARE_FINAL_TYPE (TestActuator, test_actuator, TEST, ACTUATOR, GObject)

struct _TestActuator {
  GObject parent_instance;
  Fixture *f;
  const SpSnapshot *applied; /* the snapshot apply() was given */
  gboolean fail_restore;
  gboolean hang_restore; /* restore waits until released (a hung libvirtd) */
  GMutex lock;
  GCond cond;
  gboolean released;
};

static void test_actuator_iface_init (SpActuatorInterface *iface);
G_DEFINE_TYPE_WITH_CODE (TestActuator, test_actuator, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (SP_TYPE_ACTUATOR, test_actuator_iface_init))

static void
test_actuator_finalize (GObject *object)
{
  TestActuator *self = TEST_ACTUATOR (object);

  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (test_actuator_parent_class)->finalize (object);
}

static void
test_actuator_class_init (TestActuatorClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = test_actuator_finalize;
}

static void
test_actuator_init (TestActuator *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
}

static const char *
test_actuator_get_name (SpActuator *actuator)
{
  return "test";
}

static void
test_actuator_observe (SpActuator *actuator, const SpSnapshot *next)
{
  TestActuator *self = TEST_ACTUATOR (actuator);

  note (self->f, "observe");
  g_assert_cmpint (next->decision.action, ==, SP_ACTION_NONE); /* nothing decided yet */
}

static void
test_actuator_apply (SpActuator *actuator, SpSnapshot *next)
{
  TestActuator *self = TEST_ACTUATOR (actuator);

  note (self->f, "apply");
  /* the KSM actuator wrote the knobs and read them back into next */
  g_assert_cmpint (sp_ksm_state_get (&next->ksm, SP_KSM_RUN), ==, 1);
  self->applied = next;
}

static gboolean
test_actuator_restore (SpActuator *actuator, GError **error)
{
  TestActuator *self = TEST_ACTUATOR (actuator);
  g_autofree char *run = read_knob (self->f, "run");

  /* the KSM actuator, added first, restores after this one */
  g_assert_cmpstr (run, ==, "1");
  if (self->hang_restore)
    {
      g_mutex_lock (&self->lock);
      while (!self->released)
        g_cond_wait (&self->cond, &self->lock);
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
  note (self->f, "restore");
  if (self->fail_restore)
    {
      g_set_error_literal (error, SP_ERROR, SP_ERROR_FAILED, "test actuator cannot restore");
      return FALSE;
    }
  return TRUE;
}

/* restore_on_exit=false: nothing to put back, but it may hang the same way */
static void
test_actuator_leave (SpActuator *actuator)
{
  TestActuator *self = TEST_ACTUATOR (actuator);

  if (!self->hang_restore)
    {
      note (self->f, "leave");
      return;
    }
  g_mutex_lock (&self->lock);
  while (!self->released)
    g_cond_wait (&self->cond, &self->lock);
  g_mutex_unlock (&self->lock);
}

static void
test_actuator_iface_init (SpActuatorInterface *iface)
{
  iface->get_name = test_actuator_get_name;
  iface->observe = test_actuator_observe;
  iface->apply = test_actuator_apply;
  iface->restore = test_actuator_restore;
  iface->leave = test_actuator_leave;
}

static void
on_tuned (SpTuner *tuner, SpSnapshot *snapshot, gpointer user_data)
{
  Fixture *f = user_data;

  note (f, "tuned");
  g_assert_true (snapshot == sp_tuner_get_snapshot (tuner));
}

static SpTuner *
new_tuner (Fixture *f)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();

  config->scan_rate = SP_SCAN_RATE_CLASSIC;
  return sp_tuner_new (config, f->sysfs.root, f->procfs, FALSE);
}

/* Without anything added, the KSM policy decides and the KSM actuator
 * writes the knobs, reads them back, and restores them. */
static void
test_tuner_ksm_parts (Fixture *f, gconstpointer data)
{
  g_autoptr (SpTuner) tuner = new_tuner (f);
  g_autoptr (GError) error = NULL;
  g_autofree char *run = NULL;
  g_autofree char *pages = NULL;
  g_autofree char *restored = NULL;
  SpSnapshot *snapshot;

  sp_tuner_retune (tuner);
  g_assert_cmpuint (sp_tuner_get_n_decisions (tuner), ==, 1);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpuint (snapshot->serial, ==, 1);
  g_assert_cmpint (snapshot->decision.action, ==, SP_ACTION_RUN);
  g_assert_cmpint (snapshot->decision.npages, ==, 400); /* 100 + boost 300 */
  run = read_knob (f, "run");
  pages = read_knob (f, "pages_to_scan");
  g_assert_cmpstr (run, ==, "1");
  g_assert_cmpstr (pages, ==, "400");
  /* the snapshot shows the knobs as written */
  g_assert_cmpint (sp_ksm_state_get (&snapshot->ksm, SP_KSM_RUN), ==, 1);
  g_assert_cmpint (sp_ksm_state_get (&snapshot->ksm, SP_KSM_PAGES_TO_SCAN), ==, 400);

  g_assert_true (sp_tuner_restore (tuner, &error));
  g_assert_no_error (error);
  restored = read_knob (f, "run");
  g_assert_cmpstr (restored, ==, "0");
}

/* A policy and an actuator added beside the KSM ones take part in every
 * pass in order: observe, decide, apply, then "tuned"; restore in reverse. */
static void
test_tuner_second_part (Fixture *f, gconstpointer data)
{
  g_autoptr (SpTuner) tuner = new_tuner (f);
  g_autoptr (TestPolicy) policy = g_object_new (TEST_TYPE_POLICY, NULL);
  g_autoptr (TestActuator) actuator = g_object_new (TEST_TYPE_ACTUATOR, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *run = NULL;

  policy->f = f;
  actuator->f = f;
  sp_tuner_add_policy (tuner, SP_POLICY (policy));
  sp_tuner_add_actuator (tuner, SP_ACTUATOR (actuator));
  g_signal_connect (tuner, "tuned", G_CALLBACK (on_tuned), f);

  sp_tuner_retune (tuner);
  g_assert_cmpstr (f->calls->str, ==, "observe decide apply tuned");
  g_assert_true (actuator->applied == sp_tuner_get_snapshot (tuner));

  g_string_truncate (f->calls, 0);
  g_assert_true (sp_tuner_restore (tuner, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (f->calls->str, ==, "restore");
  run = read_knob (f, "run");
  g_assert_cmpstr (run, ==, "0");
}

/* One actuator failing to restore does not keep the others from it; its
 * error is the tuner's. */
static void
test_tuner_restore_error (Fixture *f, gconstpointer data)
{
  g_autoptr (SpTuner) tuner = new_tuner (f);
  g_autoptr (TestActuator) actuator = g_object_new (TEST_TYPE_ACTUATOR, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *run = NULL;

  actuator->f = f;
  actuator->fail_restore = TRUE;
  sp_tuner_add_actuator (tuner, SP_ACTUATOR (actuator));
  sp_tuner_retune (tuner);

  g_assert_false (sp_tuner_restore (tuner, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "test actuator cannot restore");
  run = read_knob (f, "run");
  g_assert_cmpstr (run, ==, "0");
}

/* use_zero_pages as configured while samepaged runs, put back on exit. */
static void
test_tuner_use_zero_pages (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *written = NULL;
  g_autofree char *restored = NULL;

  config->use_zero_pages = 1;
  sp_test_sysfs_set (&f->sysfs, "use_zero_pages", "0\n");
  tuner = sp_tuner_new (config, f->sysfs.root, f->procfs, FALSE);
  sp_tuner_retune (tuner);
  written = read_knob (f, "use_zero_pages");
  g_assert_cmpstr (written, ==, "1");

  g_assert_true (sp_tuner_restore (tuner, &error));
  g_assert_no_error (error);
  restored = read_knob (f, "use_zero_pages");
  g_assert_cmpstr (restored, ==, "0");
}

/* The profit guard through the whole pass: ksmd found in the fake procfs,
 * KSM that does not pay slowed to npages_min after 2 full scans, stopped
 * after 2 more, with the reason; the snapshot shows the cost. */
static void
test_tuner_profit_guard (Fixture *f, gconstpointer data)
{
  g_autoptr (SpTuner) tuner = new_tuner (f);
  g_autofree char *run = NULL;
  g_autofree char *pages = NULL;
  g_autofree char *stopped = NULL;
  SpSnapshot *snapshot;

  sp_test_write_in (f->procfs, "37/stat",
                    "37 (ksmd) S 2 0 0 0 -1 2097216 0 0 0 0 500 20 0 0 25 5 1 0 27 0 0\n", -1);
  sp_test_sysfs_set (&f->sysfs, "full_scans", "10\n");
  sp_test_sysfs_set (&f->sysfs, "general_profit", "-1048576\n");
  sp_test_sysfs_set (&f->sysfs, "ksm_zero_pages", "0\n");

  sp_tuner_retune (tuner);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->cost.ksmd_pid, ==, 37);
  g_assert_cmpint (snapshot->decision.guard.phase, ==, SP_PROFIT_GUARD_WATCHING);
  run = read_knob (f, "run");
  g_assert_cmpstr (run, ==, "1");

  sp_test_sysfs_set (&f->sysfs, "full_scans", "12\n");
  sp_tuner_retune (tuner);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->decision.guard.phase, ==, SP_PROFIT_GUARD_SLOWED);
  pages = read_knob (f, "pages_to_scan");
  g_assert_cmpstr (pages, ==, "64");

  sp_test_sysfs_set (&f->sysfs, "full_scans", "14\n");
  sp_tuner_retune (tuner);
  snapshot = sp_tuner_get_snapshot (tuner);
  g_assert_cmpint (snapshot->decision.action, ==, SP_ACTION_STOP);
  g_assert_cmpint (snapshot->decision.guard.phase, ==, SP_PROFIT_GUARD_STOPPED);
  sp_test_assert_contains (snapshot->decision.reason,
                           "stop: profit guard: general profit -1.0 MiB <= 0");
  stopped = read_knob (f, "run");
  g_assert_cmpstr (stopped, ==, "0");
}

/* Lets a hung restore or leave return, and waits for its thread to drop
 * its reference. */
static void
release (TestActuator *actuator)
{
  g_mutex_lock (&actuator->lock);
  actuator->released = TRUE;
  g_cond_signal (&actuator->cond);
  g_mutex_unlock (&actuator->lock);
  while (g_atomic_int_get (&G_OBJECT (actuator)->ref_count) > 2) /* ours and the tuner's */
    g_usleep (1000);
}

/* An actuator whose restore never returns (a libvirt call to a stopped
 * libvirtd) is given up after the time limit, with an error that says so:
 * sp_tuner_restore() returns, and the KSM knobs are put back all the same. */
static void
test_tuner_restore_hangs (Fixture *f, gconstpointer data)
{
  g_autoptr (SpTuner) tuner = new_tuner (f);
  g_autoptr (TestActuator) actuator = g_object_new (TEST_TYPE_ACTUATOR, NULL);
  g_autoptr (GError) error = NULL;
  g_autofree char *run = NULL;

  actuator->f = f;
  actuator->hang_restore = TRUE;
  sp_tuner_add_actuator (tuner, SP_ACTUATOR (actuator));
  sp_tuner_retune (tuner);
  run = read_knob (f, "run");
  g_assert_cmpstr (run, ==, "1");
  g_clear_pointer (&run, g_free);

  sp_tuner_set_restore_timeout (tuner, 200);
  g_assert_false (sp_tuner_restore (tuner, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==,
                   "The test actuator did not finish putting back what it changed within 1 s "
                   "(a call it made does not return): left as it is");
  run = read_knob (f, "run");
  g_assert_cmpstr (run, ==, "0");

  /* the call returns at last: the thread ends and drops its reference */
  release (actuator);
}

/* restore_on_exit=false: an actuator whose leave hangs is given up the
 * same way, with a warning. */
static void
test_tuner_leave_hangs (Fixture *f, gconstpointer data)
{
  g_autoptr (SpConfig) config = sp_config_new_default ();
  g_autoptr (SpTuner) tuner = NULL;
  g_autoptr (TestActuator) actuator = g_object_new (TEST_TYPE_ACTUATOR, NULL);
  g_autoptr (GError) error = NULL;

  config->restore_on_exit = FALSE;
  tuner = sp_tuner_new (config, f->sysfs.root, f->procfs, FALSE);
  actuator->f = f;
  sp_tuner_add_actuator (tuner, SP_ACTUATOR (actuator));
  g_assert_true (sp_tuner_restore (tuner, &error));
  g_assert_cmpstr (f->calls->str, ==, "leave");

  g_string_truncate (f->calls, 0);
  actuator->hang_restore = TRUE;
  sp_tuner_set_restore_timeout (tuner, 200);
  sp_test_log_capture ();
  sp_test_log_clear ();
  g_assert_true (sp_tuner_restore (tuner, &error));
  g_assert_cmpuint (sp_test_log_count ("WARNING The test actuator did not finish putting back "
                                       "what it changed within 1 s (a call it made does not "
                                       "return): left as it is"),
                    ==, 1);
  g_assert_no_error (error);
  release (actuator);
}

/* On time, the restore's own result, as without a limit. */
static void
test_tuner_restore_within (Fixture *f, gconstpointer data)
{
  g_autoptr (TestActuator) actuator = g_object_new (TEST_TYPE_ACTUATOR, NULL);
  g_autoptr (GError) error = NULL;

  actuator->f = f;
  sp_test_sysfs_set (&f->sysfs, "run", "1\n");
  g_assert_true (sp_actuator_restore_within (SP_ACTUATOR (actuator), 60000, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (f->calls->str, ==, "restore");
  actuator->fail_restore = TRUE;
  g_assert_false (sp_actuator_restore_within (SP_ACTUATOR (actuator), 60000, &error));
  g_assert_error (error, SP_ERROR, SP_ERROR_FAILED);
  g_assert_cmpstr (error->message, ==, "test actuator cannot restore");
  g_assert_cmpint (G_OBJECT (actuator)->ref_count, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_setup, fn, fixture_teardown)
  ADD ("/tuner/ksm-parts", test_tuner_ksm_parts);
  ADD ("/tuner/second-part", test_tuner_second_part);
  ADD ("/tuner/restore-error", test_tuner_restore_error);
  ADD ("/tuner/use-zero-pages", test_tuner_use_zero_pages);
  ADD ("/tuner/profit-guard", test_tuner_profit_guard);
  ADD ("/tuner/restore-hangs", test_tuner_restore_hangs);
  ADD ("/tuner/restore-within", test_tuner_restore_within);
  ADD ("/tuner/leave-hangs", test_tuner_leave_hangs);
  return g_test_run ();
}
