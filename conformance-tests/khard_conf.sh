#!/usr/bin/env bash
# khard's configuration for one address book (a vdir), shared by khard.sh and directory.sh:
# list and e-mail look-ups only, no editor, every card must parse (skip_unparsable = no).
# Usage: khard_conf FILE NAME VDIR
khard_conf() {
    cat >"$1" <<CONF
[addressbooks]
[[$2]]
path = $3

[general]
debug = no
default_action = list
editor = /bin/true
merge_editor = /bin/true

[contact table]
display = formatted_name
group_by_addressbook = no
reverse = no
show_nicknames = no
show_uids = yes
sort = last_name
localize_dates = yes
preferred_phone_number_type = pref, cell, home
preferred_email_address_type = pref, work, home

[vcard]
private_objects = Jabber,
preferred_version = 3.0
search_in_source_files = no
skip_unparsable = no
CONF
}
