/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * File I/O shared by samepaged and ksmctl: small sysfs/procfs files, atomic
 * replacement of state files, and the host's page size. Every path samepaged
 * touches is built from a root ("/sys", "/proc") that tests move with
 * --sysfs-root and --procfs-root.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* root + "/" + relative, e.g. ("/sys", "kernel/mm/ksm/run"). */
char *sp_path_join_root (const char *root, const char *relative);

/*
 * Reads a whole small file (sysfs attribute, /proc file). Errors are
 * G_IO_ERROR (G_IO_ERROR_NOT_FOUND for a missing file) with the path in the
 * message.
 */
gboolean sp_file_read_string (const char *path, char **contents, GError **error);

/* Parses one integer with optional surrounding whitespace, nothing else. */
gboolean sp_parse_u64 (const char *str, guint64 *out);
gboolean sp_parse_i64 (const char *str, gint64 *out);

/* Reads a file holding one integer (like a sysfs knob). */
gboolean sp_file_read_u64 (const char *path, guint64 *out, GError **error);
gboolean sp_file_read_i64 (const char *path, gint64 *out, GError **error);

/*
 * Writes value to an existing file (no O_CREAT; one
 * O_TRUNC write(2) like `echo >`). The error carries the errno code name and the path,
 * e.g. "Cannot write 5000 to /sys/kernel/mm/ksm/pages_to_scan: Invalid
 * argument (EINVAL)".
 */
gboolean sp_file_write_string (const char *path, const char *value, GError **error);

/*
 * Writes a file atomically (temporary file in the same directory + rename),
 * for metrics and state files.
 */
gboolean sp_file_replace (const char *path, const char *contents, GError **error);

typedef enum {
  SP_FILE_REPLACE_NONE = 0,
  /* no fsync when path does not exist yet: nothing old can be lost, and
   * a crash of the process (not of the machine) still finds the whole new
   * file; the rename alone costs well under a millisecond, an fsync tens */
  SP_FILE_REPLACE_SYNC_ONLY_EXISTING = 1 << 0,
} SpFileReplaceFlags;

/* sp_file_replace() with flags. */
gboolean sp_file_replace_full (const char *path, const char *contents, SpFileReplaceFlags flags,
                               GError **error);

/* The state records (<state-dir>/ksm-originals, balloon-periods): replaced
 * like sp_file_replace_full() after creating their directory; removed (a
 * missing file is no error); loaded into keyfile, where a missing file is
 * no record (TRUE, *found FALSE) and one that does not parse is
 * G_IO_ERROR_INVALID_DATA naming the path. */
gboolean sp_record_replace (const char *path, const char *contents, SpFileReplaceFlags flags,
                            GError **error);
gboolean sp_record_remove (const char *path, GError **error);
gboolean sp_record_load (GKeyFile *keyfile, const char *path, gboolean *found, GError **error);

/*
 * The base page size KSM merges, in bytes and in KiB (sysconf, read once;
 * 4 KiB if sysconf gives nothing sensible).
 */
guint64 sp_page_size_bytes (void);
guint64 sp_page_size_kib (void);

G_END_DECLS
