/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Per-process KSM facts and finding a domain's QEMU: ksm_stat of several
 * kernel generations, a fake procfs tree, and the real /proc. */
#define G_LOG_DOMAIN "test-procfs"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "sp-procfs.h"
#include "sp-qemu-proc.h"
#include "sp-test.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#endif

#define UUID_ALPHA "3f7c2a9e-5b1d-4c8e-9f0a-1d2e3f4a5b6c"
#define UUID_BETA "0b6d1f3e-2a4c-4e58-8f7a-9c0d1e2f3a4b"
#define UUID_BETA_UPPER "0B6D1F3E-2A4C-4E58-8F7A-9C0D1E2F3A4B"
#define UUID_NOBODY "deadbeef-0000-4000-8000-000000000000"

typedef struct {
  const char *file;
  gint64 rmap_items;
  gint64 zero_pages;
  gint64 merging_pages;
  gint64 process_profit;
  SpKsmMergeable merge_any;
  SpKsmMergeable mergeable;
} StatCase;

#define U SP_KSM_MERGEABLE_UNKNOWN
#define YES SP_KSM_MERGEABLE_YES
#define NO SP_KSM_MERGEABLE_NO

static const StatCase stat_cases[] = {
  /* 6.1: rmap_items only */
  { "ksm_stat-6.1.txt", 4096, -1, -1, -1, U, U },
  /* 6.4: + merging_pages, process_profit (negative: scanned, nothing merged) */
  { "ksm_stat-6.4.txt", 8192, -1, 0, -524288, U, U },
  /* 6.6: + zero_pages */
  { "ksm_stat-6.6.txt", 262144, 1024, 51200, 192937984, U, U },
  /* 6.14: + "ksm_merge_any: no", "ksm_mergeable: yes" (a QEMU guest) */
  { "ksm_stat-6.14-qemu.txt", 65536, 12, 30000, 118734848, NO, YES },
  /* this machine's kernel (6.18), `cat /proc/self/ksm_stat` */
  { "ksm_stat-6.18-self.txt", 0, 0, 0, 0, NO, NO },
  /* a future kernel: "key:\tvalue", unknown keys, one not even numeric */
  { "ksm_stat-future.txt", 100, 0, 50, -3200, YES, YES },
};

static void
assert_stat (const SpKsmProcStat *stat, const StatCase *c)
{
  g_assert_true (stat->present);
  g_assert_cmpint (stat->rmap_items, ==, c->rmap_items);
  g_assert_cmpint (stat->zero_pages, ==, c->zero_pages);
  g_assert_cmpint (stat->merging_pages, ==, c->merging_pages);
  g_assert_cmpint (stat->process_profit, ==, c->process_profit);
  g_assert_cmpint (stat->merge_any, ==, c->merge_any);
  g_assert_cmpint (stat->mergeable, ==, c->mergeable);
}

static void
test_stat_fixture (gconstpointer data)
{
  const StatCase *c = data;
  g_autofree char *contents = sp_test_load_data ("ksm_stat", c->file, NULL);
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;

  memset (&stat, 0xaa, sizeof (stat));
  g_assert_true (sp_ksm_proc_stat_parse (contents, &stat, &error));
  g_assert_no_error (error);
  assert_stat (&stat, c);
}

/* Edges of the line format. */
static void
test_stat_lines (void)
{
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;

  /* a process without memory (zombie, kernel thread): empty file */
  g_assert_true (sp_ksm_proc_stat_parse ("", &stat, &error));
  g_assert_no_error (error);
  g_assert_false (stat.present);
  g_assert_cmpint (stat.rmap_items, ==, -1);
  g_assert_cmpint (stat.merging_pages, ==, -1);
  g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);

  /* only unknown keys and blank lines */
  g_assert_true (sp_ksm_proc_stat_parse ("\n\nksm_new_thing 5\nother: x\n", &stat, &error));
  g_assert_no_error (error);
  g_assert_false (stat.present);

  /* spaces around, " : ", CRLF, no final newline */
  g_assert_true (sp_ksm_proc_stat_parse ("  ksm_rmap_items   17  \r\nksm_merging_pages : 3\r\n"
                                         "ksm_mergeable:yes",
                                         &stat, &error));
  g_assert_no_error (error);
  g_assert_true (stat.present);
  g_assert_cmpint (stat.rmap_items, ==, 17);
  g_assert_cmpint (stat.merging_pages, ==, 3);
  g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_YES);
  g_assert_cmpint (stat.merge_any, ==, SP_KSM_MERGEABLE_UNKNOWN);

  /* a key is the whole first word: prefixes of known keys are other keys */
  g_assert_true (sp_ksm_proc_stat_parse ("ksm_rmap_items_total 5\nksm_rmap 6\n", &stat, &error));
  g_assert_no_error (error);
  g_assert_false (stat.present);
  g_assert_cmpint (stat.rmap_items, ==, -1);
}

static void
test_stat_bad (void)
{
  const struct {
    const char *text;
    const char *message_part;
  } cases[] = {
    { "ksm_rmap_items -5\n", "ksm_rmap_items value “-5”" },
    { "ksm_rmap_items 1\nksm_merging_pages 12x\n", "ksm_merging_pages value “12x”" },
    { "ksm_zero_pages 99999999999999999999\n", "ksm_zero_pages" },
    { "ksm_process_profit\n", "ksm_process_profit value “”" },
    { "ksm_process_profit 1.5\n", "expected an integer" },
    { "ksm_mergeable: maybe\n", "ksm_mergeable value “maybe”" },
    { "ksm_merge_any: 1\n", "expected “yes” or “no”" },
    { "ksm_rmap_items 1\nksm_rmap_items 2\n", "ksm_rmap_items appears twice" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      SpKsmProcStat stat;
      SpKsmProcStat before;

      g_test_message ("%s", cases[i].text);
      memset (&stat, 0xaa, sizeof (stat));
      memset (&before, 0xaa, sizeof (before));
      g_assert_false (sp_ksm_proc_stat_parse (cases[i].text, &stat, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      g_test_message ("error: %s", error->message);
      g_assert_nonnull (strstr (error->message, cases[i].message_part));
      /* the output is left alone on error */
      g_assert_cmpmem (&stat, sizeof (stat), &before, sizeof (before));
    }
}

static void
test_cmdline_has_uuid (void)
{
  const struct {
    const char *cmdline;
    gsize len;
    gboolean found;
  } cases[] = {
#define C(s) s, sizeof (s) - 1
    { C ("/usr/bin/qemu-system-x86_64\0-name\0guest=alpha\0-uuid\0" UUID_ALPHA "\0-m\0256\0"),
      TRUE },
    /* the last element without its NUL */
    { C ("qemu\0-uuid\0" UUID_ALPHA), TRUE },
    { C ("qemu\0--uuid\0" UUID_ALPHA "\0"), TRUE },
    { C ("qemu\0-uuid\0"
         "3F7C2A9E-5B1D-4C8E-9F0A-1D2E3F4A5B6C\0"),
      TRUE },
    { C (""), FALSE },
    { C ("\0\0\0"), FALSE },
    { C ("qemu\0-uuid\0"), FALSE },
    { C ("qemu\0-uuid"), FALSE },
    { C ("qemu\0" UUID_ALPHA "\0-uuid\0"), FALSE },
    /* one element holding both: what strstr would match */
    { C ("/bin/sh\0-c\0echo -uuid " UUID_ALPHA "\0"), FALSE },
    { C ("qemu\0-uuid=" UUID_ALPHA "\0"), FALSE },
    { C ("qemu\0x-uuid\0" UUID_ALPHA "\0"), FALSE },
    { C ("qemu\0-uuidx\0" UUID_ALPHA "\0"), FALSE },
    { C ("qemu\0-UUID\0" UUID_ALPHA "\0"), FALSE },
    { C ("qemu\0-uuid\0" UUID_ALPHA "-extra\0"), FALSE },
    { C ("qemu\0-uuid\0"
         "x" UUID_ALPHA "\0"),
      FALSE },
    { C ("qemu\0-uuid\0\0" UUID_ALPHA "\0"), FALSE },
    /* a truncated uuid at the end of the buffer */
    { C ("qemu\0-uuid\0"
         "3f7c2a9e-5b1d"),
      FALSE },
#undef C
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("case %" G_GSIZE_FORMAT, i);
      g_assert_cmpint (sp_qemu_proc_cmdline_has_uuid (cases[i].cmdline, cases[i].len, UUID_ALPHA),
                       ==, cases[i].found);
    }
  g_assert_false (sp_qemu_proc_cmdline_has_uuid (NULL, 0, UUID_ALPHA));
}

/* A fake procfs and libvirt run directory in a temporary directory. */
typedef struct {
  char *root;
  char *proc;
  char *run;
} Tree;

static void
copy_fixture (const char *dir, const char *relative, const char *fixture)
{
  gsize len;
  g_autofree char *contents = sp_test_load_data ("ksm_stat", fixture, &len);

  sp_test_write_in (dir, relative, contents, (gssize) len);
}

#define CMDLINE(t, pid, s) sp_test_write_in ((t)->proc, pid "/cmdline", s, sizeof (s) - 1)

/* <proc>/<pid>/status with the four ids of Uid: all uid */
static void
write_status (const char *proc, const char *pid, guint uid)
{
  g_autofree char *relative = g_build_filename (pid, "status", NULL);
  g_autofree char *text = g_strdup_printf ("Name:\tqemu-system-x86\nUmask:\t0022\n"
                                           "Uid:\t%u\t%u\t%u\t%u\nGid:\t0\t0\t0\t0\n",
                                           uid, uid, uid, uid);

  sp_test_write_in (proc, relative, text, -1);
}

/* A process of this test's uid: the owner of the pid files it writes, as
 * libvirtd is of its own. */
#define STATUS(t, pid) write_status ((t)->proc, pid, (guint) geteuid ())

/* Another local user */
#define OTHER_UID 12345

static void
tree_setup (Tree *tree, gconstpointer data)
{
  tree->root = sp_test_make_tmp_dir ();
  tree->proc = g_build_filename (tree->root, "proc", NULL);
  tree->run = g_build_filename (tree->root, "run", NULL);
  sp_test_make_dir_in (tree->root, "proc");
  sp_test_make_dir_in (tree->root, "run");

  /* not processes */
  sp_test_write_in (tree->proc, "meminfo", "MemTotal: 1 kB\n", -1);
  CMDLINE (tree, "self", "qemu\0-uuid\0" UUID_NOBODY "\0");
  CMDLINE (tree, "12a", "qemu\0-uuid\0" UUID_NOBODY "\0");
  CMDLINE (tree, "-12", "qemu\0-uuid\0" UUID_NOBODY "\0");

  /* alpha: QEMU 2000 (libvirt's pid file), and stale 3000 and 100 with its
   * uuid; created so that the lowest is neither first nor last in readdir
   * order (creation or reverse creation order on tmpfs) */
  CMDLINE (tree, "3000", "/usr/bin/qemu-system-x86_64\0-uuid\0" UUID_ALPHA "\0");
  CMDLINE (tree, "100",
           "/usr/bin/qemu-system-x86_64\0-name\0guest=alpha\0-uuid\0" UUID_ALPHA
           "\0-incoming\0defer\0");
  CMDLINE (tree, "2000",
           "/usr/bin/qemu-system-x86_64\0-name\0guest=alpha,debug-threads=on\0"
           "-S\0-uuid\0" UUID_ALPHA "\0-m\0size=262144k\0");
  sp_test_write_in (tree->run, "alpha.pid", "2000\n", -1);
  STATUS (tree, "3000");
  STATUS (tree, "100");
  STATUS (tree, "2000");

  /* beta: QEMU 101, uuid in upper case, no pid file */
  CMDLINE (tree, "101", "/usr/bin/qemu-system-x86_64\0-uuid\0" UUID_BETA_UPPER "\0");
  STATUS (tree, "101");

  /* zeta: libvirt's pid file names 2100, a process of another user whose
   * command line claims the domain's uuid (a reused pid) */
  CMDLINE (tree, "2100", "/usr/bin/qemu-system-x86_64\0-uuid\0" UUID_ALPHA "\0");
  write_status (tree->proc, "2100", OTHER_UID);
  sp_test_write_in (tree->run, "zeta.pid", "2100\n", -1);
  /* pid files anyone could have written: group-writable, a symbolic link */
  sp_test_write_in (tree->run, "eta.pid", "2000\n", -1);
  {
    g_autofree char *eta = g_build_filename (tree->run, "eta.pid", NULL);
    g_autofree char *theta = g_build_filename (tree->run, "theta.pid", NULL);

    g_assert_cmpint (g_chmod (eta, 0664), ==, 0);
    g_assert_cmpint (symlink ("alpha.pid", theta), ==, 0);
  }

  /* decoys a substring search would take for beta's or nobody's QEMU */
  CMDLINE (tree, "50", "/bin/sh\0-c\0qemu -uuid " UUID_BETA " -m 1G\0");
  CMDLINE (tree, "51", "/usr/bin/virsh\0-uuid\0");
  CMDLINE (tree, "52", "grep\0-e\0-uuid " UUID_NOBODY "\0");
  /* kernel thread / zombie: empty command line */
  CMDLINE (tree, "2", "");
  /* unreadable: cmdline is a directory; a vanished pid without cmdline */
  sp_test_make_dir_in (tree->proc, "53/cmdline");
  sp_test_make_dir_in (tree->proc, "54");

  /* pid files that are wrong: another domain's QEMU, garbage, gone */
  sp_test_write_in (tree->run, "beta.pid", "100\n", -1);
  sp_test_write_in (tree->run, "gamma.pid", "not a pid\n", -1);
  sp_test_write_in (tree->run, "delta.pid", "4242\n", -1);
  sp_test_write_in (tree->run, "epsilon.pid", "-2000\n", -1);
  /* outside the pid directory: never followed */
  sp_test_write_in (tree->root, "evil.pid", "2000\n", -1);
}

static void
tree_teardown (Tree *tree, gconstpointer data)
{
  sp_test_remove_tree (tree->root);
  g_free (tree->root);
  g_free (tree->proc);
  g_free (tree->run);
}

#define FIND(t, name, uuid) sp_qemu_proc_find_pid ((t)->proc, (t)->run, name, uuid, -1)

/* libvirt's pid file, checked against the process's uid and command line. */
static void
test_find_pidfile (Tree *tree, gconstpointer data)
{
  g_assert_cmpint (FIND (tree, "alpha", UUID_ALPHA), ==, 2000);
  /* the uuid compares case-insensitively with the command line */
  g_assert_cmpint (FIND (tree, "alpha", "3F7C2A9E-5B1D-4C8E-9F0A-1D2E3F4A5B6C"), ==, 2000);
  /* the uid libvirt names (its DAC label) rather than the pid file's owner */
  g_assert_cmpint (
      sp_qemu_proc_find_pid (tree->proc, tree->run, "alpha", UUID_ALPHA, (gint64) geteuid ()), ==,
      2000);
  /* without a pid file (or a name to find it by): nothing, no scan */
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, NULL, "alpha", UUID_ALPHA, -1), ==, 0);
  g_assert_cmpint (FIND (tree, NULL, UUID_ALPHA), ==, 0);
}

/* No pid file: processes whose command lines claim the uuid (any local user
 * can start one) are not looked for. */
static void
test_find_no_scan (Tree *tree, gconstpointer data)
{
  g_assert_cmpint (FIND (tree, "no-pidfile", UUID_BETA), ==, 0);
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, NULL, "beta", UUID_BETA, -1), ==, 0);
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, "/nonexistent/run", "beta", UUID_BETA, -1),
                   ==, 0);
}

/* A pid file naming another process, or no process: nothing. */
static void
test_find_wrong_pidfile (Tree *tree, gconstpointer data)
{
  /* beta.pid names alpha's stale QEMU 100 */
  g_assert_cmpint (FIND (tree, "beta", UUID_BETA), ==, 0);
  /* garbage, a gone pid, a negative pid */
  g_assert_cmpint (FIND (tree, "gamma", UUID_BETA), ==, 0);
  g_assert_cmpint (FIND (tree, "delta", UUID_ALPHA), ==, 0);
  g_assert_cmpint (FIND (tree, "epsilon", UUID_ALPHA), ==, 0);
  /* a name that would leave the pid directory is not used as a path */
  g_assert_cmpint (FIND (tree, "../evil", UUID_ALPHA), ==, 0);
  g_assert_cmpint (FIND (tree, "..", UUID_ALPHA), ==, 0);
  g_assert_cmpint (FIND (tree, "", UUID_ALPHA), ==, 0);
}

/* A process of another uid claiming the domain's uuid is not its QEMU, and
 * a pid file others could write (or a link) is not libvirt's. */
static void
test_find_other_uid (Tree *tree, gconstpointer data)
{
  g_assert_cmpint (FIND (tree, "zeta", UUID_ALPHA), ==, 0);
  /* when libvirt says QEMU runs as that uid, it is QEMU */
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, tree->run, "zeta", UUID_ALPHA, OTHER_UID), ==,
                   2100);
  /* and then alpha's 2000 (of the pid file's owner) is not */
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, tree->run, "alpha", UUID_ALPHA, OTHER_UID),
                   ==, 0);
  g_assert_cmpint (FIND (tree, "eta", UUID_ALPHA), ==, 0);
  g_assert_cmpint (FIND (tree, "theta", UUID_ALPHA), ==, 0);
  /* a process without a status file has no known uid */
  g_assert_cmpint (sp_qemu_proc_get_uid (tree->proc, 2000), ==, (gint64) geteuid ());
  g_assert_cmpint (sp_qemu_proc_get_uid (tree->proc, 2100), ==, OTHER_UID);
  g_assert_cmpint (sp_qemu_proc_get_uid (tree->proc, 50), ==, -1);
  sp_test_write_in (tree->proc, "2000/status", "Uid:\t0\t1000\t0\t0\n", -1);
  /* real and effective uids differ: not a plain QEMU */
  g_assert_cmpint (sp_qemu_proc_get_uid (tree->proc, 2000), ==, -1);
  g_assert_cmpint (FIND (tree, "alpha", UUID_ALPHA), ==, 0);
}

/* Which URIs let samepaged read local /proc, and where the pid files are. */
static void
test_pid_dir_for_uri (void)
{
  static const struct {
    const char *uri;
    const char *pid_dir;
  } cases[] = {
    { "qemu:///system", "/run/libvirt/qemu" },
    { "qemu+unix:///system", "/run/libvirt/qemu" },
    { "qemu+unix:///system?socket=/tmp/sp/run/libvirt-sock", "/run/libvirt/qemu" },
    { "qemu:///session", "/xdg/libvirt/qemu/run" },
    { "qemu+unix:///session", "/xdg/libvirt/qemu/run" },
    /* remote: another host's processes, whatever this one has */
    { "qemu+ssh://host/system", NULL },
    { "qemu+tcp://otherhost/system", NULL },
    { "qemu+tls://otherhost/system", NULL },
    { "qemu+ssh://localhost/system", NULL },
    { "qemu+libssh2://user@host/system", NULL },
    { "qemu://otherhost/system", NULL },
    /* other drivers and the embedded one */
    { "test:///default", NULL },
    { "lxc:///system", NULL },
    { "qemu:///embed?root=/tmp/x", NULL },
    { "qemuX:///system", NULL },
    { "not a uri", NULL },
  };
  g_autofree char *none = NULL;

  g_setenv ("XDG_RUNTIME_DIR", "/xdg", TRUE);
  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *dir = sp_qemu_proc_pid_dir_for_uri (cases[i].uri, "/run/libvirt/qemu");

      g_test_message ("%s", cases[i].uri);
      g_assert_cmpstr (dir, ==, cases[i].pid_dir);
    }
  g_assert_null (sp_qemu_proc_pid_dir_for_uri (NULL, "/run/libvirt/qemu"));
  g_unsetenv ("XDG_RUNTIME_DIR");
  none = sp_qemu_proc_pid_dir_for_uri ("qemu:///session", "/run/libvirt/qemu");
  g_assert_null (none);
}

static void
test_find_none (Tree *tree, gconstpointer data)
{
  /* only decoys and non-process entries mention it */
  g_assert_cmpint (FIND (tree, "nobody", UUID_NOBODY), ==, 0);
  g_assert_cmpint (sp_qemu_proc_find_pid (tree->proc, NULL, NULL, UUID_NOBODY, -1), ==, 0);
  /* alpha's pid file, but the uuid of nobody */
  g_assert_cmpint (FIND (tree, "alpha", UUID_NOBODY), ==, 0);
  g_assert_cmpint (FIND (tree, "alpha", ""), ==, 0);
  /* no procfs at all */
  g_assert_cmpint (sp_qemu_proc_find_pid ("/nonexistent/proc", tree->run, "alpha", UUID_ALPHA, -1),
                   ==, 0);
}

static void
read_stat (const char *proc, gint64 pid, SpKsmProcStat *stat)
{
  g_autoptr (GError) error = NULL;

  memset (stat, 0xaa, sizeof (*stat));
  g_assert_true (sp_ksm_proc_stat_read (proc, pid, stat, &error));
  g_assert_no_error (error);
}

static void
test_read_tree (Tree *tree, gconstpointer data)
{
  SpKsmProcStat stat;

  /* 6.14: ksm_stat has everything; a ksm_merging_pages file is not read */
  copy_fixture (tree->proc, "300/ksm_stat", "ksm_stat-6.14-qemu.txt");
  sp_test_write_in (tree->proc, "300/ksm_merging_pages", "555\n", -1);
  read_stat (tree->proc, 300, &stat);
  assert_stat (&stat, &stat_cases[3]);

  /* 6.1-6.3: merging pages from its own file */
  copy_fixture (tree->proc, "301/ksm_stat", "ksm_stat-6.1.txt");
  sp_test_write_in (tree->proc, "301/ksm_merging_pages", "777\n", -1);
  read_stat (tree->proc, 301, &stat);
  g_assert_true (stat.present);
  g_assert_cmpint (stat.rmap_items, ==, 4096);
  g_assert_cmpint (stat.merging_pages, ==, 777);
  g_assert_cmpint (stat.zero_pages, ==, -1);
  g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);

  /* 5.19-6.0: only ksm_merging_pages */
  sp_test_write_in (tree->proc, "302/ksm_merging_pages", "12\n", -1);
  read_stat (tree->proc, 302, &stat);
  g_assert_true (stat.present);
  g_assert_cmpint (stat.merging_pages, ==, 12);
  g_assert_cmpint (stat.rmap_items, ==, -1);
  g_assert_cmpint (stat.process_profit, ==, -1);

  /* before 5.19: neither file, a process all the same */
  sp_test_make_dir_in (tree->proc, "303");
  read_stat (tree->proc, 303, &stat);
  g_assert_false (stat.present);
  g_assert_cmpint (stat.merging_pages, ==, -1);
  g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);

  /* a zombie: both files empty */
  sp_test_write_in (tree->proc, "304/ksm_stat", "", 0);
  sp_test_write_in (tree->proc, "304/ksm_merging_pages", "", 0);
  read_stat (tree->proc, 304, &stat);
  g_assert_false (stat.present);
  g_assert_cmpint (stat.merging_pages, ==, -1);
}

/* A domain's QEMU found and its ksm_stat read into an SpDomainInfo; what
 * was there before goes. */
static void
test_qemu_facts (Tree *tree, gconstpointer data)
{
  g_autoptr (SpDomainInfo) info = sp_domain_info_new ();

  copy_fixture (tree->proc, "2000/ksm_stat", "ksm_stat-6.14-qemu.txt");
  info->name = g_strdup ("alpha");
  info->uuid = g_strdup (UUID_ALPHA);
  sp_qemu_proc_read_facts (tree->proc, tree->run, info);
  g_assert_cmpint (info->pid, ==, 2000);
  g_assert_true (info->ksm_stat_present);
  g_assert_cmpint (info->ksm_merging_pages, ==, 30000);
  g_assert_cmpint (info->ksm_zero_pages, ==, 12);
  g_assert_cmpint (info->ksm_process_profit, ==, 118734848);
  g_assert_cmpint (info->ksm_mergeable, ==, SP_KSM_MERGEABLE_YES);

  /* a QEMU without KSM files (before 5.19): found, no facts */
  sp_test_write_in (tree->run, "beta.pid", "101\n", -1);
  g_free (info->name);
  g_free (info->uuid);
  info->name = g_strdup ("beta");
  info->uuid = g_strdup (UUID_BETA);
  sp_qemu_proc_read_facts (tree->proc, tree->run, info);
  g_assert_cmpint (info->pid, ==, 101);
  g_assert_false (info->ksm_stat_present);
  g_assert_cmpint (info->ksm_merging_pages, ==, 0);
  g_assert_cmpint (info->ksm_zero_pages, ==, 0);
  /* the kernel's "not reported", as sp_ksm_proc_stat_read gives it */
  g_assert_cmpint (info->ksm_process_profit, ==, -1);
  g_assert_cmpint (info->ksm_mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);

  /* no QEMU at all: the old facts are cleared */
  info->ksm_stat_present = TRUE;
  info->ksm_merging_pages = 5;
  info->ksm_mergeable = SP_KSM_MERGEABLE_NO;
  g_free (info->uuid);
  info->uuid = g_strdup (UUID_NOBODY);
  sp_qemu_proc_read_facts (tree->proc, tree->run, info);
  g_assert_cmpint (info->pid, ==, 0);
  g_assert_false (info->ksm_stat_present);
  g_assert_cmpint (info->ksm_merging_pages, ==, 0);
  g_assert_cmpint (info->ksm_mergeable, ==, SP_KSM_MERGEABLE_UNKNOWN);
}

/* Facts read again: the known pid kept while it is the domain's QEMU, a
 * change reported, a domain without a known QEMU left alone. */
static void
test_qemu_update (Tree *tree, gconstpointer data)
{
  g_autoptr (SpDomainInfo) info = sp_domain_info_new ();
  g_autoptr (SpDomainInfo) idle = sp_domain_info_new ();

  copy_fixture (tree->proc, "2000/ksm_stat", "ksm_stat-6.14-qemu.txt");
  info->name = g_strdup ("alpha");
  info->uuid = g_strdup (UUID_ALPHA);
  info->active = TRUE;
  sp_qemu_proc_read_facts (tree->proc, tree->run, info);
  g_assert_cmpint (info->pid, ==, 2000);

  /* nothing new */
  g_assert_false (sp_qemu_proc_update_facts (tree->proc, tree->run, info));
  g_assert_cmpint (info->ksm_merging_pages, ==, 30000);

  /* merging more, then QEMU says no: the reason follows */
  sp_test_write_in (tree->proc, "2000/ksm_stat", "ksm_merging_pages 31000\nksm_mergeable: yes\n",
                    -1);
  g_assert_true (sp_qemu_proc_update_facts (tree->proc, tree->run, info));
  g_assert_cmpint (info->ksm_merging_pages, ==, 31000);
  g_assert_true (info->mergeable);
  sp_test_write_in (tree->proc, "2000/ksm_stat", "ksm_merging_pages 31000\nksm_mergeable: no\n",
                    -1);
  g_assert_true (sp_qemu_proc_update_facts (tree->proc, tree->run, info));
  g_assert_false (info->mergeable);
  g_assert_cmpstr (info->unmergeable_reason, ==, "QEMU reports ksm_mergeable: no");
  g_assert_false (sp_qemu_proc_update_facts (tree->proc, tree->run, info));

  /* pid 2000 is another process now: looked for again (libvirt's pid file
   * names 100 now) */
  CMDLINE (tree, "2000", "/bin/true\0");
  sp_test_write_in (tree->run, "alpha.pid", "100\n", -1);
  g_assert_true (sp_qemu_proc_update_facts (tree->proc, tree->run, info));
  g_assert_cmpint (info->pid, ==, 100);
  g_assert_false (info->ksm_stat_present);
  g_assert_true (info->mergeable);
  g_assert_null (info->unmergeable_reason);

  /* inactive, or no QEMU known: left alone */
  idle->name = g_strdup ("beta");
  idle->uuid = g_strdup (UUID_BETA);
  idle->active = TRUE;
  g_assert_false (sp_qemu_proc_update_facts (tree->proc, tree->run, idle));
  g_assert_cmpint (idle->pid, ==, 0);
  idle->active = FALSE;
  idle->pid = 101;
  g_assert_false (sp_qemu_proc_update_facts (tree->proc, tree->run, idle));
  g_assert_false (idle->ksm_stat_present);
}

/* A new SpGuests only when some domain's facts changed; the old one stays
 * as it was. */
static void
test_qemu_update_guests (Tree *tree, gconstpointer data)
{
  g_autoptr (SpGuests) guests = sp_guests_new ();
  g_autoptr (SpGuests) fresh = NULL;
  SpDomainInfo *alpha = sp_domain_info_new ();
  SpDomainInfo *off = sp_domain_info_new ();
  const SpDomainInfo *d;

  sp_test_write_in (tree->proc, "2000/ksm_stat", "ksm_merging_pages 10\nksm_mergeable: yes\n", -1);
  alpha->name = g_strdup ("alpha");
  alpha->uuid = g_strdup (UUID_ALPHA);
  alpha->active = TRUE;
  alpha->current_kib = 1024;
  sp_qemu_proc_read_facts (tree->proc, tree->run, alpha);
  off->name = g_strdup ("off");
  off->uuid = g_strdup (UUID_NOBODY);
  off->current_kib = 4096;
  g_ptr_array_add (guests->domains, alpha);
  g_ptr_array_add (guests->domains, off);
  guests->uri = g_strdup ("qemu:///system");
  guests->connected = TRUE;
  guests->status = g_strdup ("connected");
  guests->refreshed_us = 42;
  sp_guests_finish (guests);
  g_assert_cmpuint (guests->committed_kib, ==, 1024);

  g_assert_null (sp_qemu_proc_update_guests (guests, tree->proc, tree->run));

  sp_test_write_in (tree->proc, "2000/ksm_stat", "ksm_merging_pages 10\nksm_mergeable: no\n", -1);
  fresh = sp_qemu_proc_update_guests (guests, tree->proc, tree->run);
  g_assert_nonnull (fresh);
  g_assert_true (fresh != guests);
  g_assert_cmpuint (fresh->domains->len, ==, 2);
  g_assert_cmpstr (fresh->uri, ==, "qemu:///system");
  g_assert_true (fresh->connected);
  g_assert_cmpstr (fresh->status, ==, "connected");
  g_assert_cmpint (fresh->refreshed_us, ==, 42);
  g_assert_cmpuint (fresh->n_active, ==, 1);
  g_assert_cmpuint (fresh->committed_kib, ==, 0);
  d = sp_guests_find (fresh, "alpha");
  g_assert_false (d->mergeable);
  g_assert_cmpint (d->ksm_mergeable, ==, SP_KSM_MERGEABLE_NO);
  /* the old guests are untouched */
  g_assert_true (alpha->mergeable);
  g_assert_cmpint (alpha->ksm_mergeable, ==, SP_KSM_MERGEABLE_YES);
  g_assert_cmpuint (guests->committed_kib, ==, 1024);
}

/* The unmergeable reason follows ksm_mergeable unless the XML gave one. */
static void
test_qemu_follow_mergeable (void)
{
  g_autoptr (SpDomainInfo) info = sp_domain_info_new ();

  info->ksm_mergeable = SP_KSM_MERGEABLE_NO;
  sp_qemu_proc_follow_mergeable (info);
  g_assert_false (info->mergeable);
  g_assert_cmpstr (info->unmergeable_reason, ==, "QEMU reports ksm_mergeable: no");

  info->ksm_mergeable = SP_KSM_MERGEABLE_YES;
  sp_qemu_proc_follow_mergeable (info);
  g_assert_true (info->mergeable);
  g_assert_null (info->unmergeable_reason);

  info->ksm_mergeable = SP_KSM_MERGEABLE_UNKNOWN;
  sp_qemu_proc_follow_mergeable (info);
  g_assert_true (info->mergeable);
  g_assert_null (info->unmergeable_reason);

  /* the XML's reason stays, whatever QEMU says */
  info->mergeable = FALSE;
  info->unmergeable_reason = g_strdup ("hugepages");
  info->ksm_mergeable = SP_KSM_MERGEABLE_NO;
  sp_qemu_proc_follow_mergeable (info);
  g_assert_false (info->mergeable);
  g_assert_cmpstr (info->unmergeable_reason, ==, "hugepages");
  info->ksm_mergeable = SP_KSM_MERGEABLE_YES;
  sp_qemu_proc_follow_mergeable (info);
  g_assert_false (info->mergeable);
  g_assert_cmpstr (info->unmergeable_reason, ==, "hugepages");
}

static void
test_read_errors (Tree *tree, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;
  SpKsmProcStat before;

  memset (&before, 0xaa, sizeof (before));

  /* a vanished process */
  memset (&stat, 0xaa, sizeof (stat));
  g_assert_false (sp_ksm_proc_stat_read (tree->proc, 9999, &stat, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "9999"));
  g_assert_cmpmem (&stat, sizeof (stat), &before, sizeof (before));
  g_clear_error (&error);

  /* a bad value names the file and the key */
  sp_test_write_in (tree->proc, "310/ksm_stat", "ksm_rmap_items 1\nksm_mergeable: perhaps\n", -1);
  g_assert_false (sp_ksm_proc_stat_read (tree->proc, 310, &stat, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_test_message ("error: %s", error->message);
  g_assert_nonnull (strstr (error->message, "310/ksm_stat"));
  g_assert_nonnull (strstr (error->message, "ksm_mergeable"));
  g_assert_cmpmem (&stat, sizeof (stat), &before, sizeof (before));
  g_clear_error (&error);

  sp_test_write_in (tree->proc, "311/ksm_merging_pages", "-3\n", -1);
  g_assert_false (sp_ksm_proc_stat_read (tree->proc, 311, &stat, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, "311/ksm_merging_pages"));
  g_clear_error (&error);

  /* a read error of a live process is not "gone" */
  sp_test_make_dir_in (tree->proc, "312/ksm_stat");
  g_assert_false (sp_ksm_proc_stat_read (tree->proc, 312, &stat, &error));
  g_assert_nonnull (error);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND));
  g_test_message ("error: %s", error->message);
  g_assert_cmpmem (&stat, sizeof (stat), &before, sizeof (before));
}

/* The real /proc/self/ksm_stat of this (unmergeable) test process. */
static void
test_read_self (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *merging = NULL;
  SpKsmProcStat stat;
  gint64 pid = getpid ();
  gint64 merging_file;

  if (!g_file_test ("/proc/self/ksm_stat", G_FILE_TEST_EXISTS))
    {
      g_test_skip ("this kernel has no /proc/PID/ksm_stat (before 6.1)");
      return;
    }
  read_stat ("/proc", pid, &stat);
  g_assert_true (stat.present);
  g_assert_cmpint (stat.rmap_items, ==, 0);
  g_assert_cmpint (stat.merging_pages, ==, 0);
  g_assert_cmpint (stat.process_profit, ==, 0);
  g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_NO);
  g_assert_cmpint (stat.merge_any, ==, SP_KSM_MERGEABLE_NO);

  /* agrees with the single-value file */
  g_file_get_contents ("/proc/self/ksm_merging_pages", &merging, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (
      g_ascii_string_to_signed (g_strstrip (merging), 10, 0, G_MAXINT64, &merging_file, NULL));
  g_assert_cmpint (stat.merging_pages, ==, merging_file);
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void
merge_any_child_setup (gpointer user_data)
{
  int fd = GPOINTER_TO_INT (user_data);
  char result = prctl (PR_SET_MEMORY_MERGE, 1, 0, 0, 0) == 0 ? 0 : (char) errno;

  if (write (fd, &result, 1) != 1)
    _exit (1);
}

/* A child opted in with prctl(PR_SET_MEMORY_MERGE) (kept across exec since
 * 6.7): "yes" from the real kernel. */
static void
test_read_merge_any_child (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) child = NULL;
  SpKsmProcStat stat;
  int fds[2];
  char result = -1;
  gint64 pid;

  read_stat ("/proc", getpid (), &stat);
  if (stat.merge_any == SP_KSM_MERGEABLE_UNKNOWN)
    {
      g_test_skip ("this kernel has no ksm_merge_any in ksm_stat (before 6.14)");
      return;
    }

  g_assert_cmpint (pipe (fds), ==, 0);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, merge_any_child_setup, GINT_TO_POINTER (fds[1]),
                                         NULL);
  child = g_subprocess_launcher_spawn (launcher, &error, "cat", NULL);
  g_assert_no_error (error);
  close (fds[1]);
  g_assert_cmpint (read (fds[0], &result, 1), ==, 1);
  close (fds[0]);
  pid = g_ascii_strtoll (g_subprocess_get_identifier (child), NULL, 10);

  if (result == 0)
    {
      read_stat ("/proc", pid, &stat);
      g_assert_true (stat.present);
      g_assert_cmpint (stat.merge_any, ==, SP_KSM_MERGEABLE_YES);
      g_assert_cmpint (stat.mergeable, ==, SP_KSM_MERGEABLE_YES);
    }

  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (child), NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (child, NULL, &error));
  g_assert_no_error (error);

  /* reaped: gone */
  g_assert_false (sp_ksm_proc_stat_read ("/proc", pid, &stat, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);

  if (result != 0)
    {
      g_autofree char *why =
          g_strdup_printf ("prctl(PR_SET_MEMORY_MERGE) failed: %s", g_strerror (result));

      g_test_skip (why);
    }
}

/* The pid file on the real /proc, with a child whose command line carries
 * "-uuid" <uuid> like QEMU's: found through the pid file only. */
static void
test_find_real (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) child = NULL;
  g_autofree char *uuid = g_uuid_string_random ();
  g_autofree char *upper = g_ascii_strup (uuid, -1);
  g_autofree char *run = NULL;
  g_autofree char *pidfile = NULL;
  g_autofree char *pid_text = NULL;
  gint64 pid;

  child = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE, &error, "/bin/sh", "-c",
                            "read x || :", "-uuid", uuid, NULL);
  g_assert_no_error (error);
  pid = g_ascii_strtoll (g_subprocess_get_identifier (child), NULL, 10);
  g_assert_cmpint (pid, >, 0);
  g_assert_cmpint (sp_qemu_proc_get_uid ("/proc", pid), ==, (gint64) geteuid ());

  /* no scan: a process naming the uuid is not enough */
  g_assert_cmpint (sp_qemu_proc_find_pid ("/proc", NULL, NULL, uuid, -1), ==, 0);

  run = sp_test_make_tmp_dir ();
  pidfile = g_build_filename (run, "guest.pid", NULL);
  pid_text = g_strdup_printf ("%" G_GINT64_FORMAT "\n", pid);
  sp_test_write_file (pidfile, pid_text, -1);
  g_assert_cmpint (sp_qemu_proc_find_pid ("/proc", run, "guest", uuid, -1), ==, pid);
  g_assert_cmpint (sp_qemu_proc_find_pid ("/proc", run, "guest", upper, -1), ==, pid);
  /* QEMU said to run as another uid */
  g_assert_cmpint (sp_qemu_proc_find_pid ("/proc", run, "guest", uuid, OTHER_UID), ==, 0);
  /* the pid file of this test process: not the guest */
  g_free (pid_text);
  pid_text = g_strdup_printf ("%d\n", (int) getpid ());
  sp_test_write_file (pidfile, pid_text, -1);
  g_assert_cmpint (sp_qemu_proc_find_pid ("/proc", run, "guest", uuid, -1), ==, 0);
  g_assert_cmpint (g_unlink (pidfile), ==, 0);
  g_assert_cmpint (g_rmdir (run), ==, 0);

  /* ends the child's read */
  g_assert_true (g_output_stream_close (g_subprocess_get_stdin_pipe (child), NULL, &error));
  g_assert_no_error (error);
  g_assert_true (g_subprocess_wait_check (child, NULL, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (stat_cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/procfs/ksm-stat/%s", stat_cases[i].file);

      g_test_add_data_func (path, &stat_cases[i], test_stat_fixture);
    }
  g_test_add_func ("/procfs/ksm-stat/lines", test_stat_lines);
  g_test_add_func ("/procfs/ksm-stat/bad", test_stat_bad);
  g_test_add_func ("/procfs/cmdline-has-uuid", test_cmdline_has_uuid);
  g_test_add ("/procfs/find-pid/pidfile", Tree, NULL, tree_setup, test_find_pidfile, tree_teardown);
  g_test_add ("/procfs/find-pid/no-scan", Tree, NULL, tree_setup, test_find_no_scan, tree_teardown);
  g_test_add ("/procfs/find-pid/other-uid", Tree, NULL, tree_setup, test_find_other_uid,
              tree_teardown);
  g_test_add_func ("/procfs/pid-dir-for-uri", test_pid_dir_for_uri);
  g_test_add ("/procfs/find-pid/wrong-pidfile", Tree, NULL, tree_setup, test_find_wrong_pidfile,
              tree_teardown);
  g_test_add ("/procfs/find-pid/none", Tree, NULL, tree_setup, test_find_none, tree_teardown);
  g_test_add_func ("/procfs/find-pid/real", test_find_real);
  g_test_add ("/procfs/read/tree", Tree, NULL, tree_setup, test_read_tree, tree_teardown);
  g_test_add ("/procfs/read/errors", Tree, NULL, tree_setup, test_read_errors, tree_teardown);
  g_test_add ("/procfs/qemu-facts", Tree, NULL, tree_setup, test_qemu_facts, tree_teardown);
  g_test_add_func ("/procfs/qemu-follow-mergeable", test_qemu_follow_mergeable);
  g_test_add ("/procfs/qemu-update", Tree, NULL, tree_setup, test_qemu_update, tree_teardown);
  g_test_add ("/procfs/qemu-update-guests", Tree, NULL, tree_setup, test_qemu_update_guests,
              tree_teardown);
  g_test_add_func ("/procfs/read/self", test_read_self);
  g_test_add_func ("/procfs/read/merge-any-child", test_read_merge_any_child);

  return g_test_run ();
}
