/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Logging set-up (journald when started by systemd, stderr otherwise) and a
 * helper that keeps a repeating problem from flooding the log. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Debug messages are shown with verbose; info and above always. */
void sp_log_setup (gboolean verbose);

/*
 * A line about one domain: the message as g_log would log it at level, plus
 * the journal fields SAMEPAGE_DOMAIN=<name> and SAMEPAGE_DOMAIN_UUID=<uuid>
 * (either may be NULL), so that `journalctl SAMEPAGE_DOMAIN=web1` tells that
 * domain's story. Use sp_log_domain () from code with a G_LOG_DOMAIN.
 */
#define SP_LOG_FIELD_DOMAIN "SAMEPAGE_DOMAIN"
#define SP_LOG_FIELD_DOMAIN_UUID "SAMEPAGE_DOMAIN_UUID"
#define sp_log_domain(level, name, uuid, ...) \
  sp_log_domain_full (G_LOG_DOMAIN, (level), (name), (uuid), __VA_ARGS__)
void sp_log_domain_full (const char *log_domain, GLogLevelFlags level, const char *name,
                         const char *uuid, const char *format, ...) G_GNUC_PRINTF (5, 6);

/* The last problem reported for one source of trouble. */
typedef struct {
  char *last;
} SpLogOnce;

/* TRUE when message differs from the last one (the caller logs it). */
gboolean sp_log_once_changed (SpLogOnce *slot, const char *message);
/* Forgets the problem; TRUE when there was one (the caller logs recovery). */
gboolean sp_log_once_reset (SpLogOnce *slot);

G_END_DECLS
