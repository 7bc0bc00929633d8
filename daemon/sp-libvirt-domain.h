/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One domain as libvirt tells it: its XML (live and persistent config,
 * parsed by sp-domain-xml) and its memory (balloon stats, else
 * virDomainGetInfo, else the XML). Blocking RPCs: call from a worker.
 */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>

#include "sp-domain.h"

G_BEGIN_DECLS

typedef struct {
  char uuid[VIR_UUID_STRING_BUFLEN];
  gboolean has_current;
  guint64 current_kib; /* balloon.current */
  gboolean has_maximum;
  guint64 maximum_kib; /* balloon.maximum */
  gboolean has_available;
  guint64 available_kib; /* balloon.available */
  gboolean has_usable;
  guint64 usable_kib; /* balloon.usable */
  gboolean has_unused;
  guint64 unused_kib; /* balloon.unused */
  gboolean has_disk_caches;
  guint64 disk_caches_kib; /* balloon.disk_caches */
  gint64 last_update_sec;  /* balloon.last-update; 0 when absent */
} SpBalloonStats;

/*
 * Balloon stats by UUID (SpBalloonStats*): of every active domain (doms
 * NULL, one GetAllDomainStats call), else of doms (NULL-terminated; when
 * one of them went away meanwhile, of every active domain).
 */
GHashTable *sp_libvirt_domain_balloon_stats (virConnectPtr conn, virDomainPtr *doms,
                                             GError **error);

/*
 * What samepage knows of dom from libvirt: name, UUID, state, memory (from
 * balloon, the result of sp_libvirt_domain_balloon_stats(), for an active
 * domain), whether KSM may merge it (mem_merge, pending_restart) and the
 * unmergeable reason its XML gives, and for an active one the uid its QEMU
 * runs as (its DAC label, else -1). No /proc facts: pid 0, ksm_mergeable
 * unknown.
 */
SpDomainInfo *sp_libvirt_domain_query (virDomainPtr dom, GHashTable *balloon, GError **error);

/*
 * The uid of a DAC security label as libvirt gives it ("+64055:+64055",
 * "libvirt-qemu:kvm": user and group, one colon), or -1 for anything else
 * (SELinux and AppArmor labels, unknown users).
 */
gint64 sp_libvirt_domain_parse_dac_uid (const char *label);

G_END_DECLS
