/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Text helpers shared by samepaged and ksmctl. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How much of a caller's string an error message quotes. */
#define SP_QUOTE_MAX 64

/*
 * A string from outside (a D-Bus argument, a config value) for a message:
 * escaped with g_strescape, in single quotes, cut to SP_QUOTE_MAX characters
 * with "..." after the cut.
 */
char *sp_quote (const char *str);

/*
 * "512 KiB", "1.5 MiB", "3.2 GiB", "4.0 TiB": binary units, one decimal, a
 * value that would print as 1024.0 of one unit printed as 1.0 of the next.
 * Negative values keep their sign.
 */
char *sp_format_kib (gint64 kib);

/* The non-empty fields of line, split at spaces and tabs (a GPtrArray of
 * strings it owns): "some  avg10=0.00 total=0" → some, avg10=0.00, total=0. */
GPtrArray *sp_str_fields (const char *line);

/* Whether a raw key file value (g_key_file_get_value) holds only complete
 * escapes (\s \n \t \r \\); else *problem says which is not. GLib
 * 2.74's g_key_file_get_string() sets its GError twice on some bad ones. */
gboolean sp_str_check_key_file_escapes (const char *raw, char **problem);

G_END_DECLS
