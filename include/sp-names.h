/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names shared by samepaged and ksmctl: bus, objects, interfaces, actions. */
#pragma once

#define SP_DBUS_NAME "org.samepage1"
#define SP_DBUS_PATH "/org/samepage1"
#define SP_DBUS_DOMAIN_PATH "/org/samepage1/domain"
#define SP_DBUS_INTERFACE_MANAGER "org.samepage1.Manager"
#define SP_DBUS_INTERFACE_DOMAIN "org.samepage1.Domain"

#define SP_POLKIT_ACTION_CONFIGURE "org.samepage1.configure"
#define SP_POLKIT_ACTION_SET_MEM_MERGE "org.samepage1.set-mem-merge"
#define SP_POLKIT_ACTION_SET_BALLOON "org.samepage1.set-balloon"

/* Version of the D-Bus API (the "1" in org.samepage1). */
#define SP_DBUS_API_VERSION 1
