#!/bin/bash
# The privilege split (issue 9, item 5; SECURITY.md): the responder's user
# can only store callbacks (spool_dir/new, old, tmp) and read its own
# configuration; the spooler's user takes them in, downloads and runs the
# hooks.  Two system users are created for the test (removed at exit), the
# spool is set up by examples/setup-privsep.sh exactly as the README says,
# the responder runs as one user (CGI mode, through setpriv), the spooler as
# the other against a local nginx, and each thing the responder's user must
# not do is tried as that user.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C

[ "$(id -u)" = 0 ] || skip_all "needs root (useradd, setpriv)"
for c in useradd userdel groupdel setpriv nginx; do
	command -v "$c" >/dev/null || skip_all "$c not installed"
done
[ -x "$CALLBACK" ] && [ -x "$SPOOLER" ] || skip_all "build/veo-callback and build/veo-spooler not built"

# Names of our own, so that a real veo-callback installation is never touched.
RU=veocb$$ SU=veosp$$
for u in "$RU" "$SU"; do
	id -u "$u" >/dev/null 2>&1 && skip_all "user $u exists already"
	getent group "$u" >/dev/null && skip_all "group $u exists already"
done
remove_users() {
	for u in "$SU" "$RU"; do
		id -u "$u" >/dev/null 2>&1 && userdel "$u" 2>/dev/null
		getent group "$u" >/dev/null && groupdel "$u" 2>/dev/null
	done
}
trap 'cleanup; remove_users' EXIT

# The programs where both users can run them.
mkdir -p "$T/bin" && cp "$CALLBACK" "$SPOOLER" "$T/bin/" && chmod 755 "$T/bin" "$T/bin"/*
CB=$T/bin/veo-callback SP=$T/bin/veo-spooler
SPOOL=$T/spool DL=$T/videos WWW=$T/www ETC=$T/etc
RCONF=$ETC/veo-callback.conf SCONF=$ETC/veo-spooler.conf
TOKEN=privsep-token-0123456789
mkdir -p "$ETC" "$WWW/v" && chmod 755 "$ETC"
cat >"$RCONF" <<EOF
spool_dir = $SPOOL
token = $TOKEN
sync = no
min_free = 0
EOF
cat >"$SCONF" <<EOF
# the spooler's own settings (spooler-only-marker)
spool_dir = $SPOOL
download_dir = $DL
allow_private = yes
https_only = no
sync = no
on_done = $T/bin/hook
EOF
printf '#!/bin/sh\necho "hook ran as $(id -un) for $VEO_TASK_ID"\n' >"$T/bin/hook"
chmod 755 "$T/bin/hook"

# ---- the setup, as documented ----
VEO_RESPONDER_USER=$RU VEO_SPOOLER_USER=$SU VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_RESPONDER_CONFIG=$RCONF VEO_SPOOLER_CONFIG=$SCONF \
	sh "$ROOT/examples/setup-privsep.sh" >"$T/setup.out" 2>&1
rc=$?
ok $rc "examples/setup-privsep.sh creates the users and directories"
[ $rc = 0 ] || { diag "$(cat "$T/setup.out")"; done_testing; }
perm() { stat -c '%U:%G %a' "$1"; }
is "$(perm "$SPOOL")" "$SU:$RU 750" "spool_dir: the spooler's, the responder may only enter"
is "$(perm "$SPOOL/new") $(perm "$SPOOL/old")" "$SU:$RU 2770 $SU:$RU 2770" \
	"new/ and old/: the responder's group creates entries"
is "$(perm "$SPOOL/tmp")" "$SU:$RU 1770" "tmp/: sticky, each user removes only its own"
for d in taking cur state pending claim bad; do
	is "$(perm "$SPOOL/$d")" "$SU:$SU 750" "$d/: the spooler's alone"
done
is "$(perm "$SPOOL/expect")" "$SU:$SU 2770" "expect/: tasks registered by the spooler's group"
is "$(perm "$DL")" "$SU:$SU 750" "download_dir: the spooler's alone"
is "$(perm "$RCONF") $(perm "$SCONF")" "root:$RU 640 root:$SU 640" \
	"each configuration file readable by its program's group only"
is "$(id -Gn "$SU" | tr ' ' '\n' | sort | tr '\n' ' ')" "$(printf '%s\n' "$RU" "$SU" | sort | tr '\n' ' ')" \
	"the spooler's user is in the responder's group"
is "$(id -Gn "$RU")" "$RU" "the responder's user is in its own group only"
VEO_RESPONDER_USER=$RU VEO_SPOOLER_USER=$SU VEO_SPOOL_DIR=$SPOOL VEO_DOWNLOAD_DIR=$DL \
	VEO_RESPONDER_CONFIG=$RCONF VEO_SPOOLER_CONFIG=$SCONF \
	sh "$ROOT/examples/setup-privsep.sh" >"$T/setup2.out" 2>&1
ok $? "running the setup again is harmless"

# as_responder / as_spooler CMD...: CMD as that user, with the umask of the
# shipped units (0027) and nothing of root's environment.
as_responder() {
	setpriv --reuid="$RU" --regid="$RU" --clear-groups -- \
		env -i PATH=/usr/bin:/bin VEO_CONFIG="$RCONF" VEO_AUTH=none \
		sh -c 'umask 027; exec "$@"' sh "$@"
}
as_spooler() {
	setpriv --reuid="$SU" --regid="$SU" --init-groups -- \
		env -i PATH=/usr/bin:/bin VEO_CONFIG="$SCONF" \
		sh -c 'umask 027; exec "$@"' sh "$@"
}
# post BODY: the responder, as its user, in CGI mode; prints the HTTP status.
post() {
	printf '%s' "$1" | as_responder env GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST \
		CONTENT_TYPE=application/json CONTENT_LENGTH=${#1} REMOTE_ADDR=127.0.0.1 \
		QUERY_STRING="token=$TOKEN" "$CB" 2>>"$T/cgi.log" | cgi_status
}
denied() {	# denied DESCRIPTION CMD...: CMD, as the responder's user, must fail
	_d=$1; shift
	as_responder "$@" >/dev/null 2>&1
	ok $(( $? == 0 )) "the responder's user cannot $_d"
}

# ---- the responder, as its user ----
like "$(as_responder "$CB" --check-config 2>&1)" "spool_dir $SPOOL: writable by this user" \
	"veo-callback --check-config: the spool takes writes as the responder's user"
is "$(as_responder env GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=GET QUERY_STRING=health \
	REMOTE_ADDR=127.0.0.1 "$CB" 2>>"$T/cgi.log" | cgi_status)" 200 "the health check answers 200"

PORT=$(free_port)
start_static "$PORT" "$WWW" || { echo "Bail out! static nginx did not start"; exit 1; }
BASE="http://127.0.0.1:$PORT"
make_video "$WWW/v/a.mp4" 200000
make_video "$WWW/v/old.mp4" 1000
chmod -R a+rX "$WWW"
OLD=$(callback_json 200 "first" task_ps "$BASE/v/old.mp4")
CBJ=$(callback_json 200 "Veo3.1 video generated successfully." task_ps "$BASE/v/a.mp4")
is "$(post "$OLD")" 200 "the responder's user stores a callback"
is "$(post "$CBJ")" 200 "... and a different one for the same task, replacing it"
is "$(perm "$SPOOL/new/task_ps")" "$RU:$RU 640" "the entry is the responder's, readable by its group"
is "$(post "$CBJ")" 200 "an identical repeat, while the entry waits in new/"
is "$(ls "$SPOOL/old" | wc -l)" 1 "... leaves new/ and old/ as they were"
# With sync the responder's user marks the entries it made durable, and a
# repeat of an entry stored without sync (as above) makes it durable and
# marks it too.
marked() { python3 -c 'import os, sys; os.getxattr(sys.argv[1], "user.veo-callback.durable")' "$1" 2>/dev/null; }
marked "$SPOOL/new/task_ps"; ok $(( $? == 0 )) "stored with sync = no: not marked durable"
_ino=$(stat -c %i "$SPOOL/new/task_ps")
is "$(printf '%s' "$CBJ" | as_responder env GATEWAY_INTERFACE=CGI/1.1 REQUEST_METHOD=POST VEO_SYNC=yes \
	CONTENT_TYPE=application/json CONTENT_LENGTH=${#CBJ} REMOTE_ADDR=127.0.0.1 \
	QUERY_STRING="token=$TOKEN" "$CB" 2>>"$T/cgi.log" | cgi_status)" 200 "a repeat with sync = yes: 200"
is "$(stat -c %i "$SPOOL/new/task_ps") $(ls "$SPOOL/old" | wc -l)" "$_ino 1" "... the same entry, nothing replaced"
marked "$SPOOL/new/task_ps"; ok $? "... which it marked durable, as the responder's user"
is "$(ls "$SPOOL/old" | wc -l)" 1 "the replaced one was kept in old/"
is "$(ls "$SPOOL/tmp" | wc -l)" 0 "nothing left in tmp/"

# ---- what the responder's user must not do ----
denied "create a file at the top of the spool" touch "$SPOOL/x"
denied "list state/" ls "$SPOOL/state"
denied "create a state file" touch "$SPOOL/state/task_ps"
denied "list cur/" ls "$SPOOL/cur"
denied "create a claim" touch "$SPOOL/claim/task_ps"
denied "register a task in expect/" touch "$SPOOL/expect/task_x"
denied "mark a task pending" touch "$SPOOL/pending/task_ps"
denied "read the spooler's configuration" cat "$SCONF"
denied "run veo-callback with the spooler's configuration" env VEO_CONFIG="$SCONF" "$CB" --check-config
denied "list download_dir" ls "$DL"
denied "create a file in download_dir" touch "$DL/x"

# ---- the spooler, as its user ----
like "$(as_spooler "$SP" check-config 2>&1)" "spool_dir $SPOOL: writable by this user" \
	"veo-spooler check-config: the spool is usable by the spooler's user"
as_spooler "$SP" run --once >"$T/out" 2>"$T/err"
is "$?" 0 "the spooler's user takes the callback in and downloads (run exits 0)"
[ -s "$T/err" ] && diag "$(cat "$T/err")"
is "$(sha256sum <"$DL/task_ps/result-0.mp4" 2>/dev/null)" "$(sha256sum <"$WWW/v/a.mp4")" \
	"the video is there, equal to the source"
is "$(perm "$DL/task_ps/result-0.mp4") $(perm "$DL/task_ps")" "$SU:$SU 640 $SU:$SU 750" \
	"the video and its directory are the spooler's"
is "$(perm "$SPOOL/state/task_ps")" "$SU:$SU 640" "the task's state file is the spooler's"
like "$(as_spooler "$SP" status task_ps 2>&1)" "done" "veo-spooler status, as the spooler's user: done"
like "$(cat "$SPOOL/hooks.log" 2>/dev/null)" "hook ran as $SU for task_ps" \
	"the on_done hook ran as the spooler's user"
is "$(perm "$SPOOL/hooks.log")" "$SU:$SU 640" "hooks.log is the spooler's"
is "$(ls "$SPOOL/new" | wc -l)" 0 "new/ is empty: the entry was taken"

# ---- after the downloads: still none of the spooler's business ----
denied "read the task's state file" cat "$SPOOL/state/task_ps"
denied "run veo-spooler status" "$SP" status task_ps
denied "read the hooks' output" cat "$SPOOL/hooks.log"
denied "read the downloaded video" cat "$DL/task_ps/result-0.mp4"
denied "replace the downloaded video" cp /dev/null "$DL/task_ps/result-0.mp4"
denied "remove the downloaded video" rm -f "$DL/task_ps/result-0.mp4"
denied "add a file to the task's download directory" touch "$DL/task_ps/x.mp4"
denied "take back the stored entry" mv "$SPOOL/cur/task_ps" "$SPOOL/new/task_ps"
as_spooler touch "$SPOOL/tmp/spooler-temp"
denied "remove the spooler's temporary file (sticky tmp/)" rm -f "$SPOOL/tmp/spooler-temp"
denied "rename the spooler's temporary file" mv "$SPOOL/tmp/spooler-temp" "$SPOOL/tmp/mine"
ok "$([ -f "$SPOOL/tmp/spooler-temp" ]; echo $?)" "... which is still there"

# ---- a repeat, and what a compromised responder could leave in new/ ----
is "$(post "$CBJ")" 200 "a repeat of the callback is stored by the responder's user"
as_spooler "$SP" run --once >"$T/out" 2>"$T/err"
is "$?" 0 "the spooler takes the repeat in"
is "$(grep -c '^GET /v/a.mp4 ' "$T/static.access")" 1 "the repeat downloads nothing again"
# The shipped service: run --follow as the spooler's user sees the
# responder's new entry at once (it watches new/ through the group).
make_video "$WWW/v/f.mp4" 100000 && chmod a+r "$WWW/v/f.mp4"
# Not through as_spooler: each program execs the next, so $! is the spooler.
setpriv --reuid="$SU" --regid="$SU" --init-groups -- env -i PATH=/usr/bin:/bin \
	VEO_CONFIG="$SCONF" "$SP" run --follow >"$T/follow.out" 2>"$T/follow.err" &
fpid=$!
_pids="$_pids $fpid"
sleep 0.5
is "$(post "$(callback_json 200 "ok" task_follow "$BASE/v/f.mp4")")" 200 \
	"with the spooler following the spool, the responder's user stores a callback"
wait_for_file "$DL/task_follow/result-0.mp4" 20
ok $? "run --follow as the spooler's user downloads it without waiting for a sweep"
kill -TERM "$fpid" 2>/dev/null
wait "$fpid"
is "$?" 0 "run --follow ends cleanly on SIGTERM"

as_responder mkfifo "$SPOOL/new/t_fifo"
ok $? "the responder's user can leave a FIFO in new/"
as_responder ln -s "$SPOOL/state/task_ps" "$SPOOL/new/t_link"
timeout 60 setpriv --reuid="$SU" --regid="$SU" --init-groups -- \
	env -i PATH=/usr/bin:/bin VEO_CONFIG="$SCONF" "$SP" run --once >"$T/out" 2>"$T/err"
rc=$?
ok $(( rc == 124 )) "a sweep does not hang on the FIFO (exit $rc)"
is "$(ls "$SPOOL/bad" | sed 's/\..*//' | sort | tr '\n' ' ')" "t_fifo t_link " \
	"the FIFO and the link are kept aside in bad/, unread"
is "$(count_files "$SPOOL/new") $(count_files "$SPOOL/taking")" "0 0" "nothing is left in new/ or taking/"

done_testing
