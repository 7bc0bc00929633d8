/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a libvirt domain XML says about KSM: parsed with libxml2 (XPath),
 * never with string search.
 */
#pragma once

#include <gio/gio.h>

#include "sp-balloon-xml.h"
#include "sp-domain-memory.h"

G_BEGIN_DECLS

typedef struct {
  char *name;
  char *uuid;
  guint64 memory_kib;         /* <memory>, converted from its unit */
  guint64 current_memory_kib; /* <currentMemory>, else <memory> */
  gboolean nosharepages;      /* <memoryBacking><nosharepages/> */
  gboolean hugepages;         /* all memory in huge pages (sp-domain-memory.h) */
  gboolean shared_access;   /* all memory with shared access (<access mode='shared'/>, memAccess) */
  guint64 unmergeable_kib;  /* the part of memory_kib KSM can never merge, region by region */
  char *unmergeable_part;   /* which regions and why, e.g. "hugepages (NUMA cell 1)"; or NULL */
  char *source_type;        /* <memoryBacking><source type=.../>: memfd, file... or NULL */
  gboolean launch_security; /* <launchSecurity> (SEV, TDX...: encrypted memory) */
  SpBalloonXml balloon;     /* <memballoon> and samepage's balloon metadata */
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
 * Why KSM can never merge any of this guest's memory, or NULL when it can
 * merge some. One of (the first that applies, in this order):
 * "nosharepages", "hugepages", "launch security (encrypted memory)", "memfd
 * memory backing", "file memory backing", "shared memory access", "no
 * mergeable memory" (every region unmergeable, for different reasons). A
 * guest with only some regions unmergeable (a NUMA cell in huge pages, an
 * nvdimm) is mergeable: unmergeable_kib and unmergeable_part say which part.
 */
const char *sp_domain_xml_unmergeable_reason (const SpDomainXmlFacts *facts);

G_END_DECLS
