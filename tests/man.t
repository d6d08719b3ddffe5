#!/bin/bash
# The man pages: lint clean with mandoc and groff, and in step with the
# programs (every option of --help, every configuration key with its default).
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/deploy.sh"
export LC_ALL=C

command -v mandoc >/dev/null || skip_all "mandoc not installed"
PAGES="veo-callback.8 veo-spooler.8 veo-callback.conf.5"

for p in $PAGES; do
	f=$ROOT/docs/$p
	ok "$([ -f "$f" ]; echo $?)" "docs/$p exists"
	out=$(mandoc -Tlint -Wwarning "$f" 2>&1)
	is "$out" "" "docs/$p: mandoc -Tlint -Wwarning is silent"
	if command -v groff >/dev/null; then
		out=$(groff -ww -z -mandoc "$f" 2>&1)
		is "$out" "" "docs/$p: groff -ww -z is silent"
	fi
	name=${p%.*} sect=${p##*.}
	upper=$(printf '%s' "$name" | tr a-z A-Z)
	grep -q "^\.Dt $upper $sect\$" "$f"
	ok $? "docs/$p: .Dt $upper $sect"
	grep -q "^\.Nm $name\$" "$f"
	ok $? "docs/$p: .Nm $name"
	# Every cross-reference names one of ours or a known system page.
	for x in $(sed -n 's/^\.Xr \([^ ]*\) \([0-9]\).*/\1.\2/p' "$f" | sort -u); do
		case " $PAGES cron.8 flock.2 inotify.7 spawn-fcgi.1 " in *" $x "*) r=0 ;; *) r=1 ;; esac
		ok $r "docs/$p: .Xr $x is one of ours or a known system page"
	done
done

# veo-callback(8): the options of --help, and no other.
if [ -x "$CALLBACK" ]; then
	help=$("$CALLBACK" --help)
	for o in --listen --check-config --version --help; do
		like "$help" "$o" "veo-callback --help has $o"
		grep -q "^\.Fl Fl ${o#--}" "$ROOT/docs/veo-callback.8"
		ok $? "veo-callback.8 documents $o"
	done
	for o in $(sed -n 's/^\.\(Op \)\{0,1\}Fl Fl \([a-z-]*\).*/--\2/p' "$ROOT/docs/veo-callback.8" | sort -u); do
		like "$help" "$o" "veo-callback.8's $o is an option of the program"
	done
fi

# veo-spooler(8): every command and option of --help.
if [ -x "$SPOOLER" ] && "$SPOOLER" --version >/dev/null 2>&1; then
	help=$("$SPOOLER" --help)
	for c in run status retry purge check-config; do
		like "$help" "(^|[ |])$c( |\$)" "veo-spooler --help has the command $c"
		grep -q "^\.It Cm $c\b" "$ROOT/docs/veo-spooler.8"
		ok $? "veo-spooler.8 describes the command $c"
	done
	for o in $(sed -n 's/^\.\(Op \)\{0,1\}Fl Fl \([a-z-]*\).*/--\2/p; s/^\.\(Op \)\{0,1\}Fl \([a-z]\)\b.*/-\2/p' \
	    "$ROOT/docs/veo-spooler.8" | sort -u); do
		like "$help" "(^|[ [])$o\b" "veo-spooler.8's $o is an option of the program"
	done
else
	diag "build/veo-spooler is not built yet: its options not compared"
fi

# veo-callback.conf(5): every key of src/common/config.c, with its default.
keys=$(sed -n 's/^[[:space:]]*\[K_[A-Z_]*\][[:space:]]*= { "\([a-z_]*\)".*/\1/p' "$ROOT/src/common/config.c")
nkeys=$(printf '%s\n' "$keys" | grep -c .)
ok $(( nkeys < 20 )) "src/common/config.c's key table read ($nkeys keys)"
for k in $keys; do
	# The item of key k: its .It line(s) and text, up to the next item or list end.
	sect=$(awk -v k="$k" '
		$0 ~ "^[.]It Cm " k " " { on = 1; body = 0; print; next }
		on && /^[.]It / { if (body) exit; print; next }
		on && /^[.]El/ { exit }
		on { body = 1; print }' "$ROOT/docs/veo-callback.conf.5")
	ok "$([ -n "$sect" ]; echo $?)" "veo-callback.conf.5 documents $k"
	def=$(config_default "$k")
	if [ -n "$def" ]; then
		like "$(printf '%s' "$sect" | tr '\n' ' ')" "Default (\.Pa )?$def\b" "veo-callback.conf.5: $k defaults to $def"
	else
		like "$(printf '%s' "$sect" | tr '\n' ' ')" "Default unset" "veo-callback.conf.5: $k is unset by default"
	fi
done
documented=$(sed -n 's/^\.It Cm \([a-z_]*\) No = .*/\1/p' "$ROOT/docs/veo-callback.conf.5" | sort)
is "$documented" "$(printf '%s\n' "$keys" | sort)" "veo-callback.conf.5 documents no key that does not exist"

done_testing
