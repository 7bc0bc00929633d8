/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepaged-qemu-proc"

#include "sp-qemu-proc.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
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

/*
 * <pid_dir>/<name>.pid, or 0; name must be a plain file name. The file must
 * be libvirt's: a regular file (no symbolic link followed) that only its
 * owner, root or samepaged's own user, can write. *owner_uid is its owner.
 */
static gint64
read_pidfile (const char *pid_dir, const char *name, gint64 *owner_uid)
{
  g_autofree char *file_name = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr (GError) error = NULL;
  struct stat st;
  gint64 pid;

  if (name[0] == '\0' || strchr (name, '/') != NULL || strcmp (name, ".") == 0 ||
      strcmp (name, "..") == 0)
    return 0;
  file_name = g_strconcat (name, ".pid", NULL);
  path = sp_path_join_root (pid_dir, file_name);
  if (lstat (path, &st) < 0)
    {
      g_debug ("No pid file %s: %s", path, g_strerror (errno));
      return 0;
    }
  if (!S_ISREG (st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid ()) ||
      (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    {
      g_debug ("Ignoring %s: not a regular file that only root or samepaged can write", path);
      return 0;
    }
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
  *owner_uid = st.st_uid;
  return pid;
}

gint64
sp_qemu_proc_get_uid (const char *procfs_root, gint64 pid)
{
  g_autofree char *relative = g_strdup_printf ("%" G_GINT64_FORMAT "/status", pid);
  g_autofree char *path = sp_path_join_root (procfs_root, relative);
  g_autofree char *contents = NULL;
  g_auto (GStrv) lines = NULL;

  g_return_val_if_fail (procfs_root != NULL, -1);

  if (pid <= 0 || !sp_file_read_string (path, &contents, NULL))
    return -1;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) ids = NULL;
      gint64 uid = -1;

      if (!g_str_has_prefix (lines[i], "Uid:"))
        continue;
      /* Uid: real effective saved filesystem: all four must agree */
      ids = g_strsplit_set (lines[i] + 4, " \t", -1);
      for (guint j = 0; ids[j] != NULL; j++)
        {
          gint64 value;

          if (ids[j][0] == '\0')
            continue;
          if (!sp_parse_i64 (ids[j], &value) || value < 0 || (uid >= 0 && value != uid))
            return -1;
          uid = value;
        }
      return uid;
    }
  return -1;
}

/* Whether pid runs as uid and its command line holds "-uuid" <uuid>. */
static gboolean
process_is_qemu (const char *procfs_root, gint64 pid, gint64 uid, const char *uuid)
{
  gint64 process_uid = sp_qemu_proc_get_uid (procfs_root, pid);

  if (process_uid < 0 || process_uid != uid)
    {
      g_debug ("Process %" G_GINT64_FORMAT " runs as uid %" G_GINT64_FORMAT
               ", not as libvirt's QEMU (uid %" G_GINT64_FORMAT ")",
               pid, process_uid, uid);
      return FALSE;
    }
  return process_has_uuid (procfs_root, pid, uuid);
}

gint64
sp_qemu_proc_find_pid (const char *procfs_root, const char *pid_dir, const char *name,
                       const char *uuid, gint64 qemu_uid)
{
  gint64 owner_uid = -1;
  gint64 pid;

  g_return_val_if_fail (procfs_root != NULL, 0);
  g_return_val_if_fail (uuid != NULL, 0);

  if (pid_dir == NULL || name == NULL)
    return 0;
  pid = read_pidfile (pid_dir, name, &owner_uid);
  if (pid <= 0)
    return 0;
  /* a stale pid file may name a reused pid: trust the process only when it
   * runs as libvirt runs QEMU and names the domain's UUID */
  if (process_is_qemu (procfs_root, pid, qemu_uid >= 0 ? qemu_uid : owner_uid, uuid))
    return pid;
  g_debug ("Pid file of %s names process %" G_GINT64_FORMAT ", which is not its QEMU", name, pid);
  return 0;
}

static gboolean
uri_is_local (const char *uri, char **path)
{
  g_autoptr (GUri) parsed = g_uri_parse (uri, G_URI_FLAGS_NON_DNS | G_URI_FLAGS_ENCODED, NULL);
  const char *scheme;
  const char *host;
  const char *transport;

  if (parsed == NULL)
    return FALSE;
  scheme = g_uri_get_scheme (parsed);
  host = g_uri_get_host (parsed);
  /* qemu, qemu+unix: a local socket; any other transport (ssh, tcp, tls,
   * libssh...) may reach another host, even as localhost */
  transport = strchr (scheme, '+');
  if (g_ascii_strncasecmp (scheme, "qemu", 4) != 0 || (scheme[4] != '\0' && scheme[4] != '+'))
    return FALSE;
  if (transport != NULL && g_ascii_strcasecmp (transport, "+unix") != 0)
    return FALSE;
  if (host != NULL && host[0] != '\0')
    return FALSE;
  *path = g_strdup (g_uri_get_path (parsed));
  return TRUE;
}

char *
sp_qemu_proc_pid_dir_for_uri (const char *uri, const char *system_pid_dir)
{
  g_autofree char *path = NULL;
  const char *runtime_dir;

  if (uri == NULL || !uri_is_local (uri, &path))
    return NULL;
  if (g_strcmp0 (path, "/system") == 0)
    return g_strdup (system_pid_dir);
  if (g_strcmp0 (path, "/session") == 0)
    {
      /* a session libvirtd keeps its runtime files under the user's
       * XDG_RUNTIME_DIR (libvirt's virGetUserRuntimeDirectory) */
      runtime_dir = g_getenv ("XDG_RUNTIME_DIR");
      if (runtime_dir == NULL || !g_path_is_absolute (runtime_dir))
        return NULL;
      return g_build_filename (runtime_dir, "libvirt", "qemu", "run", NULL);
    }
  /* qemu:///embed?root=...: not a pid file samepaged looks for */
  return NULL;
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

  read_stat (procfs_root,
             sp_qemu_proc_find_pid (procfs_root, pid_dir, info->name, info->uuid, info->qemu_uid),
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
  /* libvirt's pid file, the process's uid and command line, its ksm_stat:
   * a few small files, no scan */
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
  fresh->refresh_serial = guests->refresh_serial;
  sp_guests_finish (fresh);
  return g_steal_pointer (&fresh);
}
