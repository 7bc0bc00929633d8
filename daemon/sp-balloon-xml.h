/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a domain XML says about its balloon: the <memballoon> device (model,
 * freePageReporting, autodeflate, <stats period>) and samepage's own
 * settings for it, kept in the domain's <metadata> under one namespace:
 *
 *   <metadata>
 *     <samepage:balloon xmlns:samepage="https://samepage.dev/xmlns/balloon/1"
 *                       managed="yes" min-kib="524288" shares="1000"/>
 *   </metadata>
 *
 * Every attribute is optional: a missing one means the host default
 * ([balloon] min_percent, shares; managed yes). Parsed with libxml2 (XPath).
 */
#pragma once

#include <gio/gio.h>
#include <libxml/xpath.h>

G_BEGIN_DECLS

/* The namespace of samepage's domain metadata, and the prefix and element
 * samepaged writes (virDomainSetMetadata). */
#define SP_BALLOON_METADATA_URI "https://samepage.dev/xmlns/balloon/1"
#define SP_BALLOON_METADATA_PREFIX "samepage"
#define SP_BALLOON_METADATA_ELEMENT "balloon"

/* The largest shares value (as [balloon] shares). */
#define SP_BALLOON_MAX_SHARES 50000

typedef struct {
  char *model;                  /* <memballoon model=...>; NULL without one */
  gboolean free_page_reporting; /* freePageReporting='on' */
  gboolean autodeflate;         /* autodeflate='on' */
  guint64 stats_period_sec;     /* <stats period=...>; 0: none */
  /* samepage metadata */
  gboolean managed; /* FALSE: opted out (managed="no") */
  gboolean has_min;
  guint64 min_kib;
  gboolean has_shares;
  guint64 shares;
} SpBalloonXml;

void sp_balloon_xml_clear (SpBalloonXml *balloon);

/* Whether the <memballoon> model is a virtio one (virtio, virtio-transitional...). */
gboolean sp_balloon_xml_model_has_driver (const char *model);

/* Reads the balloon facts of the domain XML ctxt is on (zeroed out first).
 * Errors (SP_ERROR_INVALID_ARGS): a metadata value that does not parse. */
gboolean sp_balloon_xml_read (xmlXPathContext *ctxt, SpBalloonXml *balloon, GError **error);

/* The metadata element for virDomainSetMetadata (without the namespace
 * declaration, which libvirt adds). */
char *sp_balloon_xml_metadata (gboolean managed, gboolean has_min, guint64 min_kib,
                               gboolean has_shares, guint64 shares);

G_END_DECLS
