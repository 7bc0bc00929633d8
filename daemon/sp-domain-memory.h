/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which memory of a libvirt domain KSM can merge, region by region: each
 * NUMA cell (or the guest's whole base memory when it has none) and each
 * memory module (<devices><memory>). Part of the domain XML reader.
 *
 * A region KSM can never merge:
 *   - a cell backed by huge pages: <hugepages> without <page> children (the
 *     default huge page size for all memory), or the <page> that applies to
 *     the cell (the one whose nodeset holds its id, else the one without a
 *     nodeset) when its size is not the base page size: <page size='4'
 *     unit='KiB'/> on x86 is ordinary memory (memory-backend-ram);
 *   - a cell with shared access: memAccess='shared', or
 *     <memoryBacking><access mode='shared'/> and no memAccess of its own;
 *   - a module that is an nvdimm, virtio-pmem or sgx-epc, one with a
 *     <source><pagesize> that is not the base page size, or access='shared'.
 * Whole-guest reasons (nosharepages, memfd/file backing, launch security)
 * are the reader's, not this file's.
 */
#pragma once

#include <glib.h>
#include <libxml/xpath.h>

G_BEGIN_DECLS

typedef struct {
  guint64 unmergeable_kib; /* sum of the regions KSM can never merge */
  char *unmergeable_part;  /* those regions and why, e.g. "hugepages (NUMA cell 1)"; NULL if none */
  gboolean all_hugepages;  /* every cell (or the base memory) is backed by huge pages */
  gboolean all_shared;     /* every cell (or the base memory) has shared access */
} SpDomainMemory;

void sp_domain_memory_clear (SpDomainMemory *memory);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SpDomainMemory, sp_domain_memory_clear)

/*
 * Reads the regions of the domain in ctxt. memory_kib is the guest's
 * <memory> (modules included, as libvirt counts it); base_page_kib the page
 * size of ordinary memory. Errors (SP_ERROR_INVALID_ARGS): a size, unit or
 * nodeset that does not parse. memory is written only on success.
 */
gboolean sp_domain_memory_read (xmlXPathContext *ctxt, guint64 memory_kib, guint64 base_page_kib,
                                SpDomainMemory *memory, GError **error);

/*
 * Parses a libvirt nodeset ("0-3,^2,5") into a sorted, duplicate-free list
 * of node ids. Ids above 4095 and empty items are errors.
 */
gboolean sp_domain_memory_parse_nodeset (const char *nodeset, GArray **ids, GError **error);

/* Converts a libvirt memory value with its unit attribute (b, bytes, KB, k,
 * KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB...; default KiB) to KiB.
 * Like libvirt: units are case-insensitive, the result is rounded up to
 * whole KiB, and more than G_MAXINT64 bytes is an error. */
gboolean sp_domain_xml_memory_to_kib (const char *value, const char *unit, guint64 *kib,
                                      GError **error);

G_END_DECLS
