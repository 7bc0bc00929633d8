/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Edits a libvirt domain XML with libxml2 (XPath on /domain/memoryBacking
 * and /domain/devices/memballoon),
 * changing nothing but what it must: every other element, attribute,
 * namespace, comment, CDATA section and processing instruction, and all the
 * whitespace, stay as they were.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * Sets or clears <memoryBacking><nosharepages/></memoryBacking>, which
 * libvirt turns into QEMU's -machine mem-merge=off.
 *
 * nosharepages TRUE ("merging off"): adds <nosharepages/> to the existing
 * <memoryBacking> (after <hugepages>, else first, as libvirt orders it), or
 * creates <memoryBacking> where libvirt writes it: after the last of
 * <name>, <uuid>, <genid>, <title>, <description>, <metadata>, <maxMemory>,
 * <memory>, <currentMemory>, <blkiotune>, <memtune>. The new nodes come with
 * the indentation of their neighbours, so the result reads like libvirt's own
 * output (and without whitespace in a document that has none).
 *
 * nosharepages FALSE ("merging on"): removes every <nosharepages/> of
 * /domain/memoryBacking with the whitespace before it, then removes a
 * <memoryBacking> left holding only whitespace (and the whitespace before
 * it). A <memoryBacking> that still holds a comment or a processing
 * instruction is kept: comments survive every edit, an element-less
 * <memoryBacking> is valid, and libvirt drops it (and the comment) when the
 * domain is defined anyway.
 *
 * So off then on gives back the original document, except for an original
 * <memoryBacking> that held nothing but whitespace: it goes.
 *
 * The value it already has: returns TRUE with *new_xml NULL (nothing to
 * define). Otherwise *new_xml is the whole document, without an XML
 * declaration (like virDomainGetXMLDesc()), in UTF-8, not reformatted.
 *
 * Errors: SP_ERROR_INVALID_ARGS when xml is not well-formed, has a DOCTYPE
 * (libvirt never writes one) or its root is not an un-namespaced <domain>.
 */
gboolean sp_domain_editor_set_nosharepages (const char *xml, gboolean nosharepages, char **new_xml,
                                            GError **error);

/*
 * Sets freePageReporting='on' or 'off' on the <memballoon> of
 * /domain/devices (the first, the one libvirt reads): the value of an
 * existing attribute is replaced where it stands, a new one goes after the
 * others. Nothing else changes, not even the whitespace.
 *
 * The value it already has (a missing attribute is off, libvirt's default):
 * returns TRUE with *new_xml NULL (nothing to define). Otherwise *new_xml is
 * the whole document, as for sp_domain_editor_set_nosharepages().
 *
 * Errors: SP_ERROR_INVALID_ARGS as for sp_domain_editor_set_nosharepages();
 * SP_ERROR_NOT_SUPPORTED when the domain has no <memballoon>, or
 * model='none', or a model that is not a virtio one (free page reporting is
 * a feature of the virtio balloon): nothing is edited. The message says
 * which; name is the domain's name for it.
 */
gboolean sp_domain_editor_set_free_page_reporting (const char *xml, const char *name,
                                                   gboolean reporting, char **new_xml,
                                                   GError **error);

G_END_DECLS
