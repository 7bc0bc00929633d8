/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-qemu-proc"

#include "sp-qemu-proc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "sp-io.h"
#include "sp-procfs.h"

/* A QEMU command line from libvirt is a few KiB, with -uuid early on; more
 * than this is read only in part. */
#define SP_CMDLINE_MAX_SIZE ((gsize) 256 * 1024)

gboolean
sp_qemu_proc_cmdline_has_uuid (const char *cmdline, gsize len, const char *uuid)
{
  const char *end;
  const char *previous = NULL;

  g_return_val_if_fail (cmdline != NULL || len == 0, FALSE);
  g_return_val_if_fail (uuid != NULL, FALSE);

  /* an empty command line (a kernel thread) may come as NULL: NULL + 0 is
   * undefined behaviour */
  if (len == 0)
    return FALSE;
  end = cmdline + len;

  /* argv elements end with a NUL; the last one may lack it (a process can
   * rewrite its command line), so never read past len */
  for (const char *arg = cmdline; arg < end;)
    {
      const char *nul = memchr (arg, '\0', end - arg);
      gsize arg_len = nul != NULL ? (gsize) (nul - arg) : (gsize) (end - arg);

      if (previous != NULL && arg_len == strlen (uuid) &&
          g_ascii_strncasecmp (arg, uuid, arg_len) == 0)
        return TRUE;
      /* QEMU accepts its options with one or two dashes */
      if ((arg_len == 5 && memcmp (arg, "-uuid", 5) == 0) ||
          (arg_len == 6 && memcmp (arg, "--uuid", 6) == 0))
        previous = arg;
      else
        previous = NULL;
      /* not one past end: a pointer beyond that is undefined too */
      arg = nul != NULL ? nul + 1 : end;
    }
  return FALSE;
}

/* Reads at most SP_CMDLINE_MAX_SIZE bytes of <procfs>/<pid>/cmdline. */
static GBytes *
read_cmdline (const char *procfs_root, gint64 pid)
{
  g_autofree char *relative = g_strdup_printf ("%" G_GINT64_FORMAT "/cmdline", pid);
  g_autofree char *path = sp_path_join_root (procfs_root, relative);
  g_autoptr (GByteArray) buf = g_byte_array_new ();
  int fd;

  do
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return NULL;
  while (buf->len < SP_CMDLINE_MAX_SIZE)
    {
      guint8 chunk[4096];
      gssize n = read (fd, chunk, MIN (sizeof (chunk), SP_CMDLINE_MAX_SIZE - buf->len));

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          close (fd);
          return NULL;
        }
      if (n == 0)
        break;
      g_byte_array_append (buf, chunk, (guint) n);
    }
  close (fd);
  return g_byte_array_free_to_bytes (g_steal_pointer (&buf));
}

/* Whether pid's command line holds "-uuid" <uuid>; FALSE when unreadable. */
static gboolean
process_has_uuid (const char *procfs_root, gint64 pid, const char *uuid)
{
  g_autoptr (GBytes) cmdline = read_cmdline (procfs_root, pid);
  gsize len = 0;
  const char *data;

  if (cmdline == NULL)
    return FALSE;
  data = g_bytes_get_data (cmdline, &len);
  return sp_qemu_proc_cmdline_has_uuid (data, len, uuid);
}

/* <pid_dir>/<name>.pid, or 0; name must be a plain file name. */
static gint64
read_pidfile (const char *pid_dir, const char *name)
{
  g_autofree char *file_name = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  gint64 pid;

  if (name[0] == '\0' || strchr (name, '/') != NULL || strcmp (name, ".") == 0 ||
      strcmp (name, "..") == 0)
    return 0;
  file_name = g_strconcat (name, ".pid", NULL);
  path = sp_path_join_root (pid_dir, file_name);
  if (!sp_file_read_string (path, &contents, &error))
    {
      g_debug ("No pid file: %s", error->message);
      return 0;
    }
  if (!sp_parse_i64 (contents, &pid) || pid <= 0)
    {
      g_debug ("Ignoring %s: it does not hold a process id", path);
      return 0;
    }
  return pid;
}

/* A directory entry of procfs that is a process: digits only. */
static gboolean
parse_pid_name (const char *name, gint64 *pid)
{
  guint64 value;

  for (const char *p = name; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  if (!g_ascii_string_to_unsigned (name, 10, 1, G_MAXINT64, &value, NULL))
    return FALSE;
  *pid = (gint64) value;
  return TRUE;
}

static gint64
scan_for_uuid (const char *procfs_root, const char *uuid)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) dir = g_dir_open (procfs_root, 0, &error);
  const char *entry;
  gint64 found = 0;
  guint n_found = 0;

  if (dir == NULL)
    {
      g_debug ("Cannot scan processes: %s", error->message);
      return 0;
    }
  /* processes come and go meanwhile: unreadable ones are skipped */
  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      gint64 pid;

      if (!parse_pid_name (entry, &pid))
        continue;
      if (!process_has_uuid (procfs_root, pid, uuid))
        continue;
      n_found++;
      /* several (e.g. a migration on this host): the lowest pid, for a
       * result that does not depend on the directory order */
      if (found == 0 || pid < found)
        found = pid;
    }
  if (n_found > 1)
    g_debug ("%u processes have -uuid %s; using %" G_GINT64_FORMAT, n_found, uuid, found);
  return found;
}

gint64
sp_qemu_proc_find_pid (const char *procfs_root, const char *pid_dir, const char *name,
                       const char *uuid)
{
  g_return_val_if_fail (procfs_root != NULL, 0);
  g_return_val_if_fail (uuid != NULL, 0);

  if (pid_dir != NULL && name != NULL)
    {
      gint64 pid = read_pidfile (pid_dir, name);

      /* a stale pid file may name a reused pid: trust the command line */
      if (pid > 0 && process_has_uuid (procfs_root, pid, uuid))
        return pid;
      if (pid > 0)
        g_debug ("Pid file of %s names process %" G_GINT64_FORMAT
                 ", which is not its QEMU; scanning",
                 name, pid);
    }
  return scan_for_uuid (procfs_root, uuid);
}

/* The ksm_* facts of pid into info; cleared when they cannot be read. */
static void
read_stat (const char *procfs_root, gint64 pid, SpDomainInfo *info)
{
  g_autoptr (GError) error = NULL;
  SpKsmProcStat stat;

  /* a kept domain's old facts go: the process may have changed or gone */
  info->ksm_stat_present = FALSE;
  info->ksm_merging_pages = 0;
  info->ksm_zero_pages = 0;
  info->ksm_process_profit = 0;
  info->ksm_mergeable = SP_KSM_MERGEABLE_UNKNOWN;
  info->pid = pid;
  if (pid <= 0)
    return;
  if (!sp_ksm_proc_stat_read (procfs_root, pid, &stat, &error))
    {
      g_debug ("No KSM facts for domain %s (pid %" G_GINT64_FORMAT "): %s", info->name, pid,
               error->message);
      return;
    }
  info->ksm_stat_present = stat.present;
  info->ksm_merging_pages = MAX (stat.merging_pages, 0);
  info->ksm_zero_pages = MAX (stat.zero_pages, 0);
  info->ksm_process_profit = stat.process_profit;
  info->ksm_mergeable = stat.mergeable;
}

void
sp_qemu_proc_read_facts (const char *procfs_root, const char *pid_dir, SpDomainInfo *info)
{
  g_return_if_fail (procfs_root != NULL);
  g_return_if_fail (info != NULL && info->uuid != NULL);

  read_stat (procfs_root, sp_qemu_proc_find_pid (procfs_root, pid_dir, info->name, info->uuid),
             info);
}

void
sp_qemu_proc_follow_mergeable (SpDomainInfo *info)
{
  g_return_if_fail (info != NULL);

  /* a reason from the XML outweighs what QEMU says */
  if (info->unmergeable_reason != NULL &&
      g_strcmp0 (info->unmergeable_reason, SP_QEMU_PROC_UNMERGEABLE_REASON) != 0)
    return;
  g_clear_pointer (&info->unmergeable_reason, g_free);
  if (info->ksm_mergeable == SP_KSM_MERGEABLE_NO)
    info->unmergeable_reason = g_strdup (SP_QEMU_PROC_UNMERGEABLE_REASON);
  info->mergeable = info->unmergeable_reason == NULL;
}

gboolean
sp_qemu_proc_update_facts (const char *procfs_root, const char *pid_dir, SpDomainInfo *info)
{
  g_autoptr (SpDomainInfo) before = NULL;

  g_return_val_if_fail (procfs_root != NULL, FALSE);
  g_return_val_if_fail (info != NULL && info->uuid != NULL, FALSE);

  if (!info->active || info->pid <= 0)
    return FALSE;
  before = sp_domain_info_copy (info);
  /* the same QEMU: its ksm_stat (one or two small files); else look again */
  if (process_has_uuid (procfs_root, info->pid, info->uuid))
    read_stat (procfs_root, info->pid, info);
  else
    sp_qemu_proc_read_facts (procfs_root, pid_dir, info);
  sp_qemu_proc_follow_mergeable (info);

  return before->pid != info->pid || before->ksm_stat_present != info->ksm_stat_present ||
         before->ksm_merging_pages != info->ksm_merging_pages ||
         before->ksm_zero_pages != info->ksm_zero_pages ||
         before->ksm_process_profit != info->ksm_process_profit ||
         before->ksm_mergeable != info->ksm_mergeable || before->mergeable != info->mergeable ||
         g_strcmp0 (before->unmergeable_reason, info->unmergeable_reason) != 0;
}

SpGuests *
sp_qemu_proc_update_guests (const SpGuests *guests, const char *procfs_root, const char *pid_dir)
{
  g_autoptr (SpGuests) fresh = NULL;
  gboolean changed = FALSE;

  g_return_val_if_fail (guests != NULL, NULL);
  g_return_val_if_fail (procfs_root != NULL, NULL);

  fresh = sp_guests_new ();
  for (guint i = 0; i < guests->domains->len; i++)
    {
      SpDomainInfo *copy = sp_domain_info_copy (g_ptr_array_index (guests->domains, i));

      if (sp_qemu_proc_update_facts (procfs_root, pid_dir, copy))
        changed = TRUE;
      g_ptr_array_add (fresh->domains, copy);
    }
  if (!changed)
    return NULL;
  fresh->uri = g_strdup (guests->uri);
  fresh->connected = guests->connected;
  fresh->status = g_strdup (guests->status);
  fresh->refreshed_us = guests->refreshed_us;
  sp_guests_finish (fresh);
  return g_steal_pointer (&fresh);
}
