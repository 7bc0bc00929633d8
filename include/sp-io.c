/* SPDX-License-Identifier: GPL-2.0-or-later */
#define G_LOG_DOMAIN "samepage-io"

#include "sp-io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* sysfs attributes are at most a page; /proc/meminfo is a few KiB. */
#define SP_FILE_MAX_SIZE ((gsize) 1024 * 1024)

typedef struct {
  int code;
  const char *name;
} SpErrnoName;

/* The codes a sysfs or procfs open/read/write can plausibly return. */
static const SpErrnoName errno_names[] = {
  { EPERM, "EPERM" },         { ENOENT, "ENOENT" },
  { EINTR, "EINTR" },         { EIO, "EIO" },
  { ENXIO, "ENXIO" },         { E2BIG, "E2BIG" },
  { EBADF, "EBADF" },         { EAGAIN, "EAGAIN" },
  { ENOMEM, "ENOMEM" },       { EACCES, "EACCES" },
  { EFAULT, "EFAULT" },       { EBUSY, "EBUSY" },
  { EEXIST, "EEXIST" },       { ENODEV, "ENODEV" },
  { ENOTDIR, "ENOTDIR" },     { EISDIR, "EISDIR" },
  { EINVAL, "EINVAL" },       { ENFILE, "ENFILE" },
  { EMFILE, "EMFILE" },       { EFBIG, "EFBIG" },
  { ENOSPC, "ENOSPC" },       { EROFS, "EROFS" },
  { ERANGE, "ERANGE" },       { ENAMETOOLONG, "ENAMETOOLONG" },
  { ENOSYS, "ENOSYS" },       { ELOOP, "ELOOP" },
  { EOVERFLOW, "EOVERFLOW" }, { EOPNOTSUPP, "EOPNOTSUPP" },
  { ETXTBSY, "ETXTBSY" },     { EDQUOT, "EDQUOT" },
};

static const char *
errno_name (int code, char *buf, gsize bufsz)
{
  for (gsize i = 0; i < G_N_ELEMENTS (errno_names); i++)
    if (errno_names[i].code == code)
      return errno_names[i].name;
  g_snprintf (buf, bufsz, "errno %d", code);
  return buf;
}

/* Sets a G_IO_ERROR from errno: "<what> <path>: <strerror> (<ENAME>)". */
static void
set_errno_error (GError **error, int code, const char *what, const char *path)
{
  char buf[32];

  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (code), "%s %s: %s (%s)", what, path,
               g_strerror (code), errno_name (code, buf, sizeof (buf)));
}

/* Content quoted for an error message: escaped and shortened. */
static char *
quote_content (const char *str)
{
  g_autofree char *escaped = g_strescape (str, NULL);

  if (strlen (escaped) > 64)
    return g_strdup_printf ("“%.64s…”", escaped);
  return g_strdup_printf ("“%s”", escaped);
}

char *
sp_path_join_root (const char *root, const char *relative)
{
  g_return_val_if_fail (root != NULL, NULL);
  g_return_val_if_fail (relative != NULL, NULL);

  return g_build_filename (root, relative, NULL);
}

gboolean
sp_file_read_string (const char *path, char **contents, GError **error)
{
  g_autoptr (GString) buf = NULL;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  do
    fd = open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    {
      set_errno_error (error, errno, "Cannot open", path);
      return FALSE;
    }

  buf = g_string_sized_new (128);
  for (;;)
    {
      char chunk[4096];
      gssize n = read (fd, chunk, sizeof (chunk));

      if (n < 0)
        {
          int saved_errno = errno;

          if (saved_errno == EINTR)
            continue;
          close (fd);
          set_errno_error (error, saved_errno, "Cannot read", path);
          return FALSE;
        }
      if (n == 0)
        break;
      if (buf->len + (gsize) n > SP_FILE_MAX_SIZE)
        {
          close (fd);
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       "Cannot read %s: larger than %" G_GSIZE_FORMAT " bytes", path,
                       SP_FILE_MAX_SIZE);
          return FALSE;
        }
      g_string_append_len (buf, chunk, n);
    }
  close (fd);

  if (memchr (buf->str, '\0', buf->len) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "Cannot read %s: contains a NUL byte", path);
      return FALSE;
    }

  *contents = g_string_free (g_steal_pointer (&buf), FALSE);
  return TRUE;
}

/* The integer of str without surrounding whitespace, or NULL when empty. */
static char *
strip_number (const char *str)
{
  const char *start = str;
  const char *end;

  while (g_ascii_isspace (*start))
    start++;
  end = start + strlen (start);
  while (end > start && g_ascii_isspace (end[-1]))
    end--;
  if (end == start)
    return NULL;
  return g_strndup (start, end - start);
}

gboolean
sp_parse_u64 (const char *str, guint64 *out)
{
  g_autofree char *number = NULL;
  guint64 value;

  if (str == NULL)
    return FALSE;
  number = strip_number (str);
  if (number == NULL)
    return FALSE;
  /* g_ascii_string_to_unsigned() also rejects a sign and trailing garbage */
  if (!g_ascii_string_to_unsigned (number, 10, 0, G_MAXUINT64, &value, NULL))
    return FALSE;
  if (out != NULL)
    *out = value;
  return TRUE;
}

gboolean
sp_parse_i64 (const char *str, gint64 *out)
{
  g_autofree char *number = NULL;
  gint64 value;

  if (str == NULL)
    return FALSE;
  number = strip_number (str);
  if (number == NULL)
    return FALSE;
  if (!g_ascii_string_to_signed (number, 10, G_MININT64, G_MAXINT64, &value, NULL))
    return FALSE;
  if (out != NULL)
    *out = value;
  return TRUE;
}

gboolean
sp_file_read_u64 (const char *path, guint64 *out, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *quoted = NULL;

  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  if (sp_parse_u64 (contents, out))
    return TRUE;
  quoted = quote_content (contents);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "Unexpected content %s in %s: expected an unsigned integer", quoted, path);
  return FALSE;
}

gboolean
sp_file_read_i64 (const char *path, gint64 *out, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *quoted = NULL;

  if (!sp_file_read_string (path, &contents, error))
    return FALSE;
  if (sp_parse_i64 (contents, out))
    return TRUE;
  quoted = quote_content (contents);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               "Unexpected content %s in %s: expected an integer", quoted, path);
  return FALSE;
}

gboolean
sp_file_write_string (const char *path, const char *value, GError **error)
{
  gsize len;
  gssize n;
  int fd;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* O_TRUNC like the shell's `echo v > file`: sysfs ignores it, and a
   * regular file (a test tree) holds exactly the value afterwards. */
  do
    fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    {
      int saved_errno = errno;
      g_autofree char *what = g_strdup_printf ("Cannot write %s to", value);

      set_errno_error (error, saved_errno, what, path);
      return FALSE;
    }

  /* one write(2): a sysfs store sees the whole value or nothing */
  len = strlen (value);
  do
    n = write (fd, value, len);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int saved_errno = errno;
      g_autofree char *what = g_strdup_printf ("Cannot write %s to", value);

      close (fd);
      set_errno_error (error, saved_errno, what, path);
      return FALSE;
    }
  if ((gsize) n != len)
    {
      close (fd);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "Cannot write %s to %s: short write (%" G_GSSIZE_FORMAT " of %" G_GSIZE_FORMAT
                   " bytes)",
                   value, path, n, len);
      return FALSE;
    }

  /* sysfs reports some store errors only here */
  if (close (fd) < 0 && errno != EINTR)
    {
      int saved_errno = errno;
      g_autofree char *what = g_strdup_printf ("Cannot write %s to", value);

      set_errno_error (error, saved_errno, what, path);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_file_replace_full (const char *path, const char *contents, SpFileReplaceFlags flags,
                      GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GFileSetContentsFlags set_flags = G_FILE_SET_CONTENTS_CONSISTENT;

  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (contents != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* temporary file in the same directory, fsync, rename; with
   * ONLY_EXISTING GLib skips the fsync when there is no file to lose */
  if (flags & SP_FILE_REPLACE_SYNC_ONLY_EXISTING)
    set_flags |= G_FILE_SET_CONTENTS_ONLY_EXISTING;
  if (!g_file_set_contents_full (path, contents, -1, set_flags, 0644, &local_error))
    {
      /* the message already names the path; keep one error domain */
      g_set_error_literal (error, G_IO_ERROR, g_io_error_from_file_error (local_error->code),
                           local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_file_replace (const char *path, const char *contents, GError **error)
{
  return sp_file_replace_full (path, contents, SP_FILE_REPLACE_NONE, error);
}

gboolean
sp_record_replace (const char *path, const char *contents, SpFileReplaceFlags flags, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);

  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "Cannot create %s: %s",
                   dir, g_strerror (saved_errno));
      return FALSE;
    }
  return sp_file_replace_full (path, contents, flags, error);
}

gboolean
sp_record_remove (const char *path, GError **error)
{
  if (unlink (path) < 0 && errno != ENOENT)
    {
      int saved_errno = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno), "Cannot remove %s: %s",
                   path, g_strerror (saved_errno));
      return FALSE;
    }
  return TRUE;
}

gboolean
sp_record_load (GKeyFile *keyfile, const char *path, gboolean *found, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  *found = FALSE;
  if (!g_key_file_load_from_file (keyfile, path, G_KEY_FILE_NONE, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", path,
                   local_error->message);
      return FALSE;
    }
  *found = TRUE;
  return TRUE;
}

guint64
sp_page_size_bytes (void)
{
  static gsize page_size = 0;

  if (g_once_init_enter (&page_size))
    {
      long size = sysconf (_SC_PAGESIZE);

      g_once_init_leave (&page_size, size >= 1024 ? (gsize) size : 4096);
    }
  return page_size;
}

guint64
sp_page_size_kib (void)
{
  return sp_page_size_bytes () / 1024;
}
