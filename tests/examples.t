#!/bin/bash
# The shipped examples that no server test runs: examples/veo-callback.conf
# (every key, defaults as in src/common/config.c, accepted by both programs), the
# systemd units (systemd-analyze verify, hardening, paths in step with the
# web server examples), and the crontab (its command, run as cron would,
# is silent when all is well).  README's configuration table lists every key.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/deploy.sh"
export LC_ALL=C

EX=$ROOT/examples
keys=$(sed -n 's/^[[:space:]]*\[K_[A-Z_]*\][[:space:]]*= { "\([a-z_]*\)".*/\1/p' "$ROOT/src/common/config.c")
nkeys=$(printf '%s\n' "$keys" | grep -c .)
ok $(( nkeys < 20 )) "src/common/config.c's key table read ($nkeys keys)"

# ---- examples/veo-callback.conf ----
# Its setting lines: "key = value", or "# key = value" for a default shown.
settings=$(sed -n 's/^#\{0,1\} \{0,1\}\([a-z_]*\) = *\(.*\)$/\1=\2/p' "$EX/veo-callback.conf" | sed 's/ *$//')
for k in $keys; do
	n=$(printf '%s\n' "$settings" | grep -c "^$k=")
	is "$n" 1 "veo-callback.conf shows $k once"
	is "$(printf '%s\n' "$settings" | sed -n "s/^$k=//p")" "$(config_default "$k")" \
		"veo-callback.conf: $k is shown with its default"
	grep -B12 "^#\{0,1\} \{0,1\}$k = " "$EX/veo-callback.conf" | grep -q '^# [A-Z]'
	ok $? "veo-callback.conf: $k is explained"
done
is "$(printf '%s\n' "$settings" | cut -d= -f1 | sort)" "$(printf '%s\n' "$keys" | sort)" \
	"veo-callback.conf shows no other key"

# Every line uncommented, paths substituted: both programs accept it, and
# every key then comes from the file.
mkdir -p "$T/spool" "$T/videos"
sed -e 's/^# \([a-z_]* = \)/\1/' -e "s#/var/spool/veo-callback#$T/spool#" \
	-e "s#/var/lib/veo-callback/videos#$T/videos#" "$EX/veo-callback.conf" >"$T/all.conf"
if [ -x "$CALLBACK" ]; then
	out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/all.conf" "$CALLBACK" --check-config 2>&1)
	ok $? "veo-callback --check-config accepts every key of the sample"
	is "$(printf '%s\n' "$out" | grep -c '# file$')" "$nkeys" "veo-callback: every key came from the file"
	like "$out" "spool_dir $T/spool: writable" "veo-callback: the spool is writable"
	out=$(env -i PATH=/usr/bin:/bin VEO_CONFIG="$EX/veo-callback.conf" "$CALLBACK" --check-config 2>&1)
	like "$out" "^spool_dir +=" "veo-callback reads the sample as shipped"
	unlike=$(printf '%s\n' "$out" | grep -c 'configuration error')
	is "$unlike" 0 "the sample as shipped has no configuration error"
fi
if [ -x "$SPOOLER" ] && "$SPOOLER" --version >/dev/null 2>&1; then
	env -i PATH=/usr/bin:/bin VEO_CONFIG="$T/all.conf" "$SPOOLER" check-config >"$T/sc.out" 2>&1
	ok $? "veo-spooler check-config accepts every key of the sample"
	is "$(grep -c '# file$' "$T/sc.out")" "$nkeys" "veo-spooler: every key came from the file"
fi

# ---- systemd units ----
if command -v systemd-analyze >/dev/null; then
	mkdir -p "$T/units"
	for u in veo-callback.socket veo-callback.service veo-spooler.service; do
		sed -e "s#/usr/local/sbin/veo-callback#$CALLBACK#" -e "s#/usr/local/bin/veo-spooler#$SPOOLER#" \
			"$EX/$u" >"$T/units/$u"
	done
	out=$(cd "$T/units" && systemd-analyze verify --man=no ./veo-callback.socket ./veo-callback.service \
		./veo-spooler.service 2>&1)
	ok $? "systemd-analyze verify accepts the units"
	is "$out" "" "systemd-analyze verify has nothing to say about them"
fi
for u in veo-callback.service veo-spooler.service; do
	for d in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes; do
		is "$(unit_value "$EX/$u" "${d%%=*}")" "${d#*=}" "$u: $d"
	done
done
# The privilege split (SECURITY.md, tests/privsep.t): two users, the
# responder may write only new/, old/ and tmp/ of the spool.
sd=$(config_default spool_dir)
is "$(unit_value "$EX/veo-callback.service" ReadWritePaths)" "$sd/new $sd/old $sd/tmp" \
	"veo-callback.service: of the spool, only new/, old/ and tmp/ are writable"
like " $(unit_value "$EX/veo-spooler.service" ReadWritePaths) " " $sd " \
	"veo-spooler.service: the spool is writable"
like " $(unit_value "$EX/veo-spooler.service" ReadWritePaths) " " $(config_default download_dir) " \
	"veo-spooler.service: the download directory is writable"
is "$(unit_value "$EX/veo-callback.service" User):$(unit_value "$EX/veo-callback.service" Group)" \
	"veo-callback:veo-callback" "veo-callback.service runs as veo-callback"
is "$(unit_value "$EX/veo-spooler.service" User):$(unit_value "$EX/veo-spooler.service" Group)" \
	"veo-spooler:veo-spooler" "veo-spooler.service runs as veo-spooler"
is "$(unit_value "$EX/veo-spooler.service" SupplementaryGroups)" veo-callback \
	"veo-spooler.service: in the responder's group, to read the entries"
is "$(unit_value "$EX/veo-spooler.service" Environment)" VEO_CONFIG=/etc/veo-spooler.conf \
	"veo-spooler.service reads its own configuration file"
for u in veo-callback.service veo-spooler.service; do
	is "$(unit_value "$EX/$u" UMask)" 0027 "$u: UMask=0027 (entries readable by the group only)"
done
grep -q '^R=${VEO_RESPONDER_USER:-veo-callback}$' "$EX/setup-privsep.sh" &&
	grep -q '^S=${VEO_SPOOLER_USER:-veo-spooler}$' "$EX/setup-privsep.sh" &&
	grep -q "^SPOOL=\${VEO_SPOOL_DIR:-$sd}\$" "$EX/setup-privsep.sh" &&
	grep -q "^VIDEOS=\${VEO_DOWNLOAD_DIR:-$(config_default download_dir)}\$" "$EX/setup-privsep.sh"
ok $? "setup-privsep.sh makes the users and directories that the units name"
is "$(unit_value "$EX/veo-callback.service" StandardInput)" "" \
	"veo-callback.service: socket activation through LISTEN_FDS, no stdin trick"
is "$(unit_value "$EX/veo-callback.service" Requires)" veo-callback.socket "veo-callback.service requires its socket"
is "$(unit_value "$EX/veo-spooler.service" Type)" simple "veo-spooler.service: a long-running service"
is "$(unit_value "$EX/veo-spooler.service" Restart)" on-failure "veo-spooler.service: restarted when it fails"
[ ! -e "$EX/veo-spooler.timer" ]
ok $? "no timer: the service follows the spool itself"
sock=$(unit_value "$EX/veo-callback.socket" ListenStream)
grep -q "fastcgi_pass unix:$sock;" "$ROOT/nginx.conf.example"
ok $? "nginx.conf.example connects to the socket of veo-callback.socket"
grep -q "proxy:unix:$sock|fcgi://" "$ROOT/apache.conf.example"
ok $? "apache.conf.example connects to the socket of veo-callback.socket"
is "$(unit_value "$EX/veo-callback.socket" SocketGroup)" www-data "the socket's group is the web server's"
is "$(unit_value "$EX/veo-callback.socket" SocketMode)" 0660 "the socket is not world-writable"

# ---- crontab ----
grep -q '^MAILTO=[^[:space:]]' "$EX/crontab"
ok $? "crontab: MAILTO set"
cronline=$(grep -v -e '^#' -e '^[A-Z_]*=' -e '^[[:space:]]*$' "$EX/crontab")
is "$(printf '%s\n' "$cronline" | grep -c .)" 1 "crontab: one job"
like "$cronline" '^\* \* \* \* \*[[:space:]]' "crontab: every minute"
cmd=$(printf '%s' "$cronline" | sed 's/^\([^[:space:]]*[[:space:]]\{1,\}\)\{5\}//')
is "$cmd --follow" "$(unit_value "$EX/veo-spooler.service" ExecStart)" \
	"veo-spooler.service runs the crontab's command with --follow"
case $cmd in *flock*) r=1 ;; *) r=0 ;; esac
ok $r "crontab: relies on the spooler's own lock (no flock wrapper)"
if [ -x "$SPOOLER" ] && "$SPOOLER" --version >/dev/null 2>&1; then
	# As cron runs it: sh -c, a minimal environment, stdout not a terminal.
	# Twice at once: the second finds the lock or an empty spool; both silent.
	run_cron() {
		# VEO_MAX_TIME: a cron run watches for callbacks until max_time.
		env -i PATH=/usr/bin:/bin HOME="$T" SHELL=/bin/sh VEO_CONFIG="$T/all.conf" VEO_MAX_TIME=2 \
			sh -c "$(printf '%s' "$cmd" | sed "s#/usr/local/bin/veo-spooler#$SPOOLER#")" \
			>"$T/cron.$1" 2>&1 </dev/null
	}
	cgi_post "$(sample_body cron_failed | sed 's/"code":200/"code":501/')" VEO_SPOOL_DIR="$T/spool" VEO_AUTH=none >/dev/null
	run_cron a & a=$!
	run_cron b & b=$!
	wait $a; ra=$? ; wait $b; rb=$?
	is "$ra $rb" "0 0" "the crontab's command exits 0, also when two runs overlap"
	like "$(cat "$T/cron.a" "$T/cron.b")" 'cron_failed' "a failed task is worth a cron mail"
	run_cron c
	is "$(cat "$T/cron.c")" "" "with nothing new, a run prints nothing (no cron mail)"
fi

# ---- README ----
if [ -f "$ROOT/README.md" ]; then
	for k in $keys; do
		grep -q "^| *\`$k\`" "$ROOT/README.md"
		ok $? "README's configuration table has $k"
	done
	grep -q 'make test' "$ROOT/README.md"
	ok $? "README names make test"
fi

done_testing
