#!/bin/sh
# The privilege split of veo-callback (SECURITY.md, "Privilege split"): two
# system users, the spool and the download directory with the owners and
# modes below, and each configuration file readable only by its program.
# Run as root once the configuration files are written; running it again
# is harmless (it also converts a spool of the older one-user setup).
#
#   sh /usr/local/share/doc/veo-callback/examples/setup-privsep.sh
#
# Names and paths, from the environment (defaults shown):
#   VEO_RESPONDER_USER=veo-callback     runs veo-callback, faces the internet
#   VEO_SPOOLER_USER=veo-spooler        runs veo-spooler and its hooks
#   VEO_SPOOL_DIR=/var/spool/veo-callback
#   VEO_DOWNLOAD_DIR=/var/lib/veo-callback/videos
#   VEO_RESPONDER_CONFIG=/etc/veo-callback.conf
#   VEO_SPOOLER_CONFIG=/etc/veo-spooler.conf
#
# The result.  R is the responder's user and group, S the spooler's; S is
# also a member of group R, so that it can read what the responder stores.
#
#   spool_dir                    S:R 0750  R may enter, not create
#   spool_dir/new, spool_dir/old S:R 2770  R creates entries (group R kept)
#   spool_dir/tmp                S:R 1770  sticky: each removes only its own
#   spool_dir/taking, cur, state, pending, claim, bad
#                                S:S 0750  the spooler's alone
#   spool_dir/expect             S:S 2770  tasks registered by group S: add
#                                          the application that submits tasks
#                                          (it holds the api_key already)
#   download_dir                 S:S 0750  the spooler's alone
#   responder configuration      root:R 0640
#   spooler configuration        root:S 0640  (api_key, hooks: not for R)
#
# The units (veo-callback.service, veo-spooler.service) run the programs as
# these users with UMask=0027, so entries are 0640 and readable by S.
set -eu

R=${VEO_RESPONDER_USER:-veo-callback}
S=${VEO_SPOOLER_USER:-veo-spooler}
SPOOL=${VEO_SPOOL_DIR:-/var/spool/veo-callback}
VIDEOS=${VEO_DOWNLOAD_DIR:-/var/lib/veo-callback/videos}
RCONF=${VEO_RESPONDER_CONFIG:-/etc/veo-callback.conf}
SCONF=${VEO_SPOOLER_CONFIG:-/etc/veo-spooler.conf}

[ "$(id -u)" = 0 ] || { echo "setup-privsep.sh: run as root" >&2; exit 1; }

# A system user with a group of its own name; no home, no login.
add_user() {	# add_user NAME [EXTRA-GROUP]
	if ! id -u "$1" >/dev/null 2>&1; then
		if getent group "$1" >/dev/null; then g="-g $1"; else g=--user-group; fi
		# shellcheck disable=SC2086
		useradd --system $g ${2:+--groups "$2"} --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin "$1"
	elif [ -n "${2:-}" ]; then
		usermod --append --groups "$2" "$1"
	fi
}
add_user "$R"
add_user "$S" "$R"
RG=$(id -gn "$R")
SG=$(id -gn "$S")

install -d -m 0755 "$(dirname "$SPOOL")" "$(dirname "$VIDEOS")"
install -d -o "$S" -g "$RG" -m 0750 "$SPOOL"
install -d -o "$S" -g "$RG" -m 2770 "$SPOOL/new" "$SPOOL/old"
install -d -o "$S" -g "$RG" -m 1770 "$SPOOL/tmp"
install -d -o "$S" -g "$SG" -m 2770 "$SPOOL/expect"
for d in taking cur state pending claim bad; do
	install -d -o "$S" -g "$SG" -m 0750 "$SPOOL/$d"
	# Files of an older one-user setup become the spooler's.
	chown -R "$S:$SG" "$SPOOL/$d"
done
# The spooler's own files at the top: its lock, hooks.log, the tidy mark,
# the state pack.
find "$SPOOL" -maxdepth 1 -type f -exec chown "$S:$SG" {} +
install -d -o "$S" -g "$SG" -m 0750 "$VIDEOS"
chown -R "$S:$SG" "$VIDEOS"

# One file for both programs works too, readable by both (S is in group R),
# but then the responder's user can read api_key.
[ "$RCONF" = "$SCONF" ] && pairs="$RCONF:$RG" || pairs="$RCONF:$RG $SCONF:$SG"
for pair in $pairs; do
	f=${pair%:*}
	if [ -f "$f" ]; then
		chown "root:${pair##*:}" "$f"
		chmod 0640 "$f"
	else
		echo "setup-privsep.sh: $f does not exist yet; run this again once it does" >&2
	fi
done
