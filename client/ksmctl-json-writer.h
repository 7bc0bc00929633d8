/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A streaming JSON writer into a GString, for output too large to build as
 * a JsonNode tree first (ksmctl domains --json: 36,000 members at 1,000
 * domains). It writes exactly what JsonGenerator writes with pretty=TRUE and
 * indent=2 (ksmctl_print_json()): the same spacing, " : " after a member
 * name, "[]" when empty, and json-glib 1.6's "{" + indent + "}" for an empty
 * object (tests/test-ksmctl-json-writer.c compares with the generator). Strings of printable ASCII
 * are copied as they are; any other string is escaped by json-glib itself, so the bytes stay the
 * generator's.
 */
#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct {
  GString *out;
  guint level;      /* open containers */
  gboolean empty;   /* the innermost container has no element yet */
  gboolean pending; /* a member name was written: the value follows on its line */
} KsmctlJsonWriter;

void ksmctl_json_writer_init (KsmctlJsonWriter *w, GString *out);

void ksmctl_json_writer_begin_array (KsmctlJsonWriter *w);
void ksmctl_json_writer_end_array (KsmctlJsonWriter *w);
void ksmctl_json_writer_begin_object (KsmctlJsonWriter *w);
void ksmctl_json_writer_end_object (KsmctlJsonWriter *w);

/* The next value is this member of the open object. */
void ksmctl_json_writer_member (KsmctlJsonWriter *w, const char *name);

void ksmctl_json_writer_null (KsmctlJsonWriter *w);
void ksmctl_json_writer_boolean (KsmctlJsonWriter *w, gboolean value);
void ksmctl_json_writer_int (KsmctlJsonWriter *w, gint64 value);
/* NULL writes null. */
void ksmctl_json_writer_string (KsmctlJsonWriter *w, const char *value);
/* Any JsonNode, as the generator would write it at this place. */
void ksmctl_json_writer_node (KsmctlJsonWriter *w, JsonNode *node);

G_END_DECLS
