/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-domain facts and the guest-memory input of the policy. The libvirt
 * watcher produces an SpGuests after each refresh; the tuner only reads it.
 */
#pragma once

#include <glib.h>

#include "sp-enums.h"

G_BEGIN_DECLS

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
