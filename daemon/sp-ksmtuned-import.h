/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The import of ksmtuned's /etc/ksmtuned.conf into an SpConfig: the file is
 * parsed as KEY=value lines, never sourced. Its eight KSM_* settings map to
 * the integer keys that name them (SpConfigIntKey.ksmtuned_name).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SpConfig SpConfig;

/*
 * Imports ksmtuned.conf over config: KEY=value lines, comments and blank
 * lines; never sourced. Unknown keys and bad values are reported through
 * warnings (file:line: message, one per string, appended to *warnings if
 * non-NULL) and keep the previous value. A missing file is not an error.
 */
gboolean sp_config_import_ksmtuned (SpConfig *config, const char *path, GPtrArray *warnings,
                                    GError **error);

G_END_DECLS
