/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a libvirt domain XML says about KSM: parsed with libxml2 (XPath),
 * never with string search.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct {
  char *name;
  char *uuid;
  guint64 memory_kib;         /* <memory>, converted from its unit */
  guint64 current_memory_kib; /* <currentMemory>, else <memory> */
  gboolean nosharepages;      /* <memoryBacking><nosharepages/> */
  gboolean hugepages;         /* <memoryBacking><hugepages> */
  gboolean shared_access;     /* <memoryBacking><access mode='shared'/>, NUMA memAccess='shared' */
  char *source_type;          /* <memoryBacking><source type=.../>: memfd, file... or NULL */
  gboolean launch_security;   /* <launchSecurity> (SEV, TDX...: encrypted memory) */
} SpDomainXmlFacts;

void sp_domain_xml_facts_clear (SpDomainXmlFacts *facts);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SpDomainXmlFacts, sp_domain_xml_facts_clear)

/*
 * Parses a domain XML. Errors (SP_ERROR_INVALID_ARGS): not well-formed, not
 * a <domain>, a memory value or unit that does not parse.
 *
 * facts must be zeroed (or hold an earlier result): on success its old
 * contents are cleared and replaced, on error it is left untouched. Without
 * <memory>, memory_kib is the sum of the NUMA cells' memory (as libvirt
 * computes it), else 0. A DOCTYPE is refused (libvirt never writes one).
 */
gboolean sp_domain_xml_parse (const char *xml, SpDomainXmlFacts *facts, GError **error);

/*
 * Why KSM can never merge this guest's memory, or NULL when it can. One of
 * (the first that applies, in this order): "nosharepages", "hugepages",
 * "launch security (encrypted memory)", "memfd memory backing", "file
 * memory backing", "shared memory access".
 */
const char *sp_domain_xml_unmergeable_reason (const SpDomainXmlFacts *facts);

/* Converts a libvirt memory value with its unit attribute (b, bytes, KB, k,
 * KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB...; default KiB) to KiB.
 * Like libvirt: units are case-insensitive, the result is rounded up to
 * whole KiB, and more than G_MAXINT64 bytes is an error. */
gboolean sp_domain_xml_memory_to_kib (const char *value, const char *unit, guint64 *kib,
                                      GError **error);

G_END_DECLS
