/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-domain facts and the guest-memory input of the policy. The libvirt
 * watcher produces an SpGuests after each refresh; the tuner only reads it.
 */
#pragma once

#include <glib.h>

#include "sp-enums.h"

G_BEGIN_DECLS

/* A domain's balloon: the guest's own statistics (from the domain stats
 * samepaged already queries: balloon.*, in KiB), its <memballoon> and
 * samepage's balloon metadata (sp-balloon-xml.h). */
typedef struct {
  char *model;                         /* <memballoon model>, live; NULL: none */
  gboolean free_page_reporting;        /* persistent config (what the next start gets) */
  gboolean free_page_reporting_active; /* running config (== free_page_reporting when
                                        * inactive): QEMU reads it at start only */
  gboolean autodeflate;                /* persistent config */
  guint64 stats_period_sec;            /* live <stats period>; 0: the guest sends none */
  guint64 memory_kib;                  /* <memory> of the persistent config (else live) */
  guint64 config_current_kib;          /* <currentMemory> of the persistent config (else live) */
  gboolean has_current;                /* balloon.current: current_kib of SpDomainInfo */
  gboolean has_available;
  guint64 available_kib; /* balloon.available: what the guest sees as its memory */
  gboolean has_usable;
  guint64 usable_kib; /* balloon.usable: what it could use without swapping */
  gboolean has_unused;
  guint64 unused_kib; /* balloon.unused: free */
  gboolean has_disk_caches;
  guint64 disk_caches_kib;
  gint64 last_update_sec; /* balloon.last-update, wall clock; 0: never */
  /* samepage metadata */
  gboolean managed; /* FALSE: opted out */
  gboolean has_min;
  guint64 min_kib;
  gboolean has_shares;
  guint64 shares;
} SpBalloonInfo;

typedef struct {
  char *name;
  char *uuid;
  gboolean active;
  gboolean persistent;
  guint64 current_kib; /* balloon.current, else info, else XML currentMemory */
  guint64 maximum_kib;
  char *memory_source; /* "balloon", "info" or "xml" */

  gboolean mem_merge;        /* persistent config: no <nosharepages/> */
  gboolean mem_merge_active; /* running config (== mem_merge when inactive) */
  gboolean pending_restart;  /* running and mem_merge != mem_merge_active */
  gboolean mergeable;        /* KSM can merge this guest's memory now */
  char *unmergeable_reason;  /* NULL when mergeable */
  guint64 unmergeable_kib;   /* of a mergeable guest, the regions KSM can never merge
                              * (a NUMA cell in huge pages, an nvdimm...); 0 when none */
  char *unmergeable_part;    /* those regions and why, or NULL */

  /* from /proc/<pid>/ksm_stat and ksm_merging_pages (0/unknown when absent) */
  gint64 pid;
  gboolean ksm_stat_present;
  gint64 ksm_merging_pages;
  gint64 ksm_zero_pages;
  gint64 ksm_process_profit;
  SpKsmMergeable ksm_mergeable;

  SpBalloonInfo balloon;
  /* the uid libvirt runs this domain's QEMU as (its DAC security label), -1
   * when libvirt does not say: a process of another uid is not its QEMU */
  gint64 qemu_uid;
} SpDomainInfo;

SpDomainInfo *sp_domain_info_new (void);

/* What of the guest's current memory KSM may merge: 0 when unmergeable,
 * else current_kib less unmergeable_kib (never below 0). */
guint64 sp_domain_info_mergeable_kib (const SpDomainInfo *info);

SpDomainInfo *sp_domain_info_copy (const SpDomainInfo *info);
void sp_domain_info_free (SpDomainInfo *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpDomainInfo, sp_domain_info_free)

/* Immutable once published; reference counted. */
typedef struct {
  GPtrArray *domains;    /* SpDomainInfo*, sorted by name */
  guint64 committed_kib; /* Σ of active, mergeable domains: current_kib less their
                          * unmergeable_kib (saturating, never wrapping) */
  guint n_active;
  char *uri;              /* libvirt URI in use, NULL when none */
  gboolean connected;     /* libvirt answers */
  char *status;           /* human readable: "connected", "reconnecting in 4 s: ..." */
  gint64 refreshed_us;    /* monotonic time of the last successful refresh, 0 never */
  guint64 refresh_serial; /* the libvirt refresh these facts come from (1, 2...; 0 none): a
                           * refresh started later has a higher serial */
} SpGuests;

SpGuests *sp_guests_new (void);
SpGuests *sp_guests_ref (SpGuests *guests);
void sp_guests_unref (SpGuests *guests);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (SpGuests, sp_guests_unref)

/* a + b, or G_MAXUINT64 when the sum does not fit: libvirt's values are
 * not ours to trust, and a wrapped sum would read as little memory */
guint64 sp_add_saturating_u64 (guint64 a, guint64 b);

/* Sorts the domains, then sums committed memory (saturating) and counts
 * active ones. */
void sp_guests_finish (SpGuests *guests);

const SpDomainInfo *sp_guests_find (const SpGuests *guests, const char *name_or_uuid);

G_END_DECLS
