/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * SetBalloon: a domain's balloon settings (managed, min, shares), checked
 * against the domain, then written as samepage metadata into its XML
 * (virDomainSetMetadata, persistent and, while it runs, live; namespace in
 * sp-balloon-xml.h) in a worker thread, and the domain refreshed.
 *
 * "reporting" turns free page reporting of the virtio balloon on or off:
 * <memballoon freePageReporting='on|off'> in the persistent config, with
 * the nothing-lost domain editor (sp-domain-editor.h) and the same
 * read-edit-compare-define as SetMemMerge (sp-domain-define.h). QEMU reads
 * it at start only: a running guest keeps what it started with until its
 * next cold start (the Domain's FreePageReportingActive says what it runs
 * with). It is done first: when it is refused, nothing changes.
 */
#pragma once

#include <gio/gio.h>

#include "sp-domain.h"
#include "sp-libvirt.h"

G_BEGIN_DECLS

/* What the domain's metadata will say. */
typedef struct {
  gboolean has_metadata; /* managed, min or shares asked: the metadata is written */
  gboolean managed;
  gboolean has_min;
  guint64 min_kib;
  gboolean has_shares;
  guint64 shares;
  gboolean has_reporting; /* "reporting" asked */
  gboolean reporting;
} SpBalloonChange;

/*
 * Checks settings (a{sv}: "min" KiB as any unsigned or signed integer,
 * "shares" an integer, "managed" and "reporting" booleans) against domain
 * and merges them with what its metadata says now into change.
 * SP_ERROR_INVALID_ARGS names the key and the allowed range ("min"
 * 0..<memory>); a transient domain is SP_ERROR_TRANSIENT; "reporting" on a
 * domain without a virtio balloon (none, model='none', another model) is
 * SP_ERROR_NOT_SUPPORTED.
 */
gboolean sp_balloon_settings_check (const SpDomainInfo *domain, GVariant *settings,
                                    SpBalloonChange *change, GError **error);

/* "managed, min 128 MiB, shares 1000": for logs and replies (the metadata
 * part only). */
char *sp_balloon_change_describe (const SpBalloonChange *change);

/* SetBalloon's reply waits at most this long for a refresh of the domain
 * that shows the change (sp_libvirt_wait_refreshed_async). */
#define SP_BALLOON_SETTINGS_REFRESH_TIMEOUT_S 5

#define SP_TYPE_BALLOON_SETTINGS (sp_balloon_settings_get_type ())
G_DECLARE_FINAL_TYPE (SpBalloonSettings, sp_balloon_settings, SP, BALLOON_SETTINGS, GObject)

SpBalloonSettings *sp_balloon_settings_new (SpLibvirt *libvirt);

void sp_balloon_settings_set_async (SpBalloonSettings *self, const SpDomainInfo *domain,
                                    const SpBalloonChange *change, const char *caller,
                                    GAsyncReadyCallback callback, gpointer user_data);

/* Domains logged with the balloon settings; reporting errors are the
 * SetMemMerge ones (sp-mem-merge.h) and SP_ERROR_NOT_SUPPORTED as above. */
gboolean sp_balloon_settings_set_finish (SpBalloonSettings *self, GAsyncResult *result,
                                         GError **error);

G_END_DECLS
