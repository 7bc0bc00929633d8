/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging set-up (journald when started by systemd, stderr otherwise) and a
 * helper that keeps a repeating problem from flooding the log. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Debug messages are shown with verbose; info and above always. */
void sp_log_setup (gboolean verbose);

/* The last problem reported for one source of trouble. */
typedef struct {
  char *last;
} SpLogOnce;

/* TRUE when message differs from the last one (the caller logs it). */
gboolean sp_log_once_changed (SpLogOnce *slot, const char *message);
/* Forgets the problem; TRUE when there was one (the caller logs recovery). */
gboolean sp_log_once_reset (SpLogOnce *slot);

G_END_DECLS
