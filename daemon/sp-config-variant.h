/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tuning keys as the D-Bus API sets and reads them: SetTuning's values
 * (GVariant, or the config file's string form) into an SpConfig, and the
 * Tuning property (an a{sv}) out of one. The tuning keys are the [tuning]
 * keys and monitor_interval; the other [daemon] keys are not set at run time.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SpConfig SpConfig;

/*
 * Sets one tuning key (a [tuning] key or monitor_interval) from a string (as
 * in the config file) or a GVariant (D-Bus SetTuning: integer keys take
 * int32, int64, uint32 or uint64, the others a string). SP_ERROR_INVALID_ARGS
 * errors name key, value and allowed range; on error config is unchanged.
 * Relations between keys are left to sp_config_validate().
 */
gboolean sp_config_set_from_string (SpConfig *config, const char *key, const char *value,
                                    GError **error);
gboolean sp_config_set_from_variant (SpConfig *config, const char *key, GVariant *value,
                                     GError **error);

/*
 * The [tuning] keys and monitor_interval as a floating a{sv} (for D-Bus):
 * integers as int64, the others as strings.
 */
GVariant *sp_config_tuning_to_variant (const SpConfig *config);

G_END_DECLS
