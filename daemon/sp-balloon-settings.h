/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SetBalloon: a domain's balloon settings (managed, min, shares), checked
 * against the domain, then written as samepage metadata into its XML
 * (virDomainSetMetadata, persistent and, while it runs, live; namespace in
 * sp-balloon-xml.h) in a worker thread, and the domain refreshed.
 */
#pragma once

#include <gio/gio.h>

#include "sp-domain.h"
#include "sp-libvirt.h"

G_BEGIN_DECLS

/* What the domain's metadata will say. */
typedef struct {
  gboolean managed;
  gboolean has_min;
  guint64 min_kib;
  gboolean has_shares;
  guint64 shares;
} SpBalloonChange;

/*
 * Checks settings (a{sv}: "min" KiB as any unsigned or signed integer,
 * "shares" an integer, "managed" a boolean) against domain and merges them
 * with what its metadata says now into change. SP_ERROR_INVALID_ARGS names
 * the key and the allowed range ("min" 0..<memory>); a transient domain is
 * SP_ERROR_TRANSIENT; "reporting" is SP_ERROR_NOT_SUPPORTED.
 */
gboolean sp_balloon_settings_check (const SpDomainInfo *domain, GVariant *settings,
                                    SpBalloonChange *change, GError **error);

/* "managed, min 128 MiB, shares 1000": for logs and replies. */
char *sp_balloon_change_describe (const SpBalloonChange *change);

#define SP_TYPE_BALLOON_SETTINGS (sp_balloon_settings_get_type ())
G_DECLARE_FINAL_TYPE (SpBalloonSettings, sp_balloon_settings, SP, BALLOON_SETTINGS, GObject)

SpBalloonSettings *sp_balloon_settings_new (SpLibvirt *libvirt);

void sp_balloon_settings_set_async (SpBalloonSettings *self, const SpDomainInfo *domain,
                                    const SpBalloonChange *change, const char *caller,
                                    GAsyncReadyCallback callback, gpointer user_data);
gboolean sp_balloon_settings_set_finish (SpBalloonSettings *self, GAsyncResult *result,
                                         GError **error);

G_END_DECLS
