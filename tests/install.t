#!/bin/bash
# make install / make uninstall: PREFIX and DESTDIR honoured; binaries, man
# pages and the shipped examples put in place, and all of it removed again.
. "$(dirname "$0")/lib/common.sh"
export LC_ALL=C
unset MAKEFLAGS MFLAGS MAKELEVEL

[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
"$SPOOLER" --version >/dev/null 2>&1 || skip_all "build/veo-spooler is not a working spooler yet"

D=$T/root
make -s -C "$ROOT" install DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1
ok $? "make install DESTDIR=... PREFIX=/usr"
[ $? = 0 ] || diag "$(cat "$T/install.log")"

expect="usr/bin/veo-spooler
usr/sbin/veo-callback
usr/share/doc/veo-callback/README.md
usr/share/doc/veo-callback/apache.conf.example
usr/share/doc/veo-callback/examples/crontab
usr/share/doc/veo-callback/examples/htaccess
usr/share/doc/veo-callback/examples/veo-callback.conf
usr/share/doc/veo-callback/examples/veo-callback.service
usr/share/doc/veo-callback/examples/veo-callback.socket
usr/share/doc/veo-callback/examples/veo-spooler.service
usr/share/doc/veo-callback/nginx.conf.example
usr/share/man/man5/veo-callback.conf.5
usr/share/man/man8/veo-callback.8
usr/share/man/man8/veo-spooler.8"
got=$(cd "$D" && find . -type f | sed 's#^\./##' | sort)
missing=$(printf '%s\n' "$expect" | while read -r f; do [ -f "$D/$f" ] || echo "$f"; done)
is "$missing" "" "the binaries, man pages and examples are in place"
extra=$(printf '%s\n' "$got" | grep -v -e '^usr/s\{0,1\}bin/veo-' -e '^usr/share/man/man[58]/[a-z.-]*\.[58]$' \
	-e '^usr/share/doc/veo-callback/')
is "$extra" "" "nothing installed outside bin, sbin, man and doc under PREFIX"
is "$(ls "$D/usr/share/doc/veo-callback/examples" | wc -l)" "$(ls "$ROOT/examples" | wc -l)" \
	"every file of examples/ is installed"

is "$(stat -c %a "$D/usr/sbin/veo-callback" "$D/usr/bin/veo-spooler" | sort -u)" 755 "binaries are mode 0755"
is "$(find "$D/usr/share" -type f -exec stat -c %a {} + | sort -u)" 644 "man pages and documents are mode 0644"
like "$("$D/usr/sbin/veo-callback" --version)" '^veo-callback [0-9]' "the installed veo-callback runs"
like "$("$D/usr/bin/veo-spooler" --version)" '^veo-spooler [0-9]' "the installed veo-spooler runs"
cmp -s "$ROOT/examples/veo-callback.conf" "$D/usr/share/doc/veo-callback/examples/veo-callback.conf"
ok $? "examples are installed unchanged"
cmp -s "$ROOT/nginx.conf.example" "$D/usr/share/doc/veo-callback/nginx.conf.example"
ok $? "nginx.conf.example is installed unchanged"

# The man pages name the documentation directory of this PREFIX.
m=$D/usr/share/man/man8/veo-callback.8
grep -q '/usr/share/doc/veo-callback' "$m" && ! grep -q '/usr/local/share/doc' "$m"
ok $? "veo-callback.8 points at /usr/share/doc/veo-callback"
diff "$ROOT/docs/veo-callback.8" "$m" | grep '^[<>]' | grep -v 'share/doc/veo-callback' >"$T/mandiff"
is "$(cat "$T/mandiff")" "" "and differs from docs/ only there"
if command -v mandoc >/dev/null; then
	for p in man8/veo-callback.8 man8/veo-spooler.8 man5/veo-callback.conf.5; do
		is "$(mandoc -Tlint -Wwarning "$D/usr/share/man/$p" 2>&1)" "" "installed $p lints clean"
	done
fi

make -s -C "$ROOT" uninstall DESTDIR="$D" PREFIX=/usr >"$T/uninstall.log" 2>&1
ok $? "make uninstall DESTDIR=... PREFIX=/usr"
is "$(find "$D" -type f | wc -l)" 0 "make uninstall removes every installed file"
ok "$([ ! -d "$D/usr/share/doc/veo-callback" ]; echo $?)" "and the documentation directory"

# The default PREFIX is /usr/local; MANDIR and DOCDIR follow PREFIX.
make -s -C "$ROOT" install DESTDIR="$T/local" >/dev/null 2>&1
ok $? "make install DESTDIR=... (default PREFIX)"
ok "$([ -x "$T/local/usr/local/sbin/veo-callback" ] && [ -x "$T/local/usr/local/bin/veo-spooler" ] &&
	[ -f "$T/local/usr/local/share/man/man8/veo-spooler.8" ] &&
	[ -f "$T/local/usr/local/share/doc/veo-callback/examples/crontab" ]; echo $?)" \
	"under /usr/local by default"
make -s -C "$ROOT" install DESTDIR="$T/split" PREFIX=/opt/veo MANDIR=/opt/man >/dev/null 2>&1
ok "$([ -f "$T/split/opt/man/man5/veo-callback.conf.5" ] && [ -x "$T/split/opt/veo/sbin/veo-callback" ]; echo $?)" \
	"MANDIR can be set apart from PREFIX"

# Build as a user, install as root: root's make install compiles nothing in
# the tree.  Missing or stale programs stop it with the command to run.
if [ "$(id -u)" = 0 ]; then
	make -C "$ROOT" install DESTDIR="$T/nb" B="$T/nobuild" >"$T/nb.log" 2>&1
	ok $(( $? == 0 )) "as root, make install without built programs fails"
	like "$(cat "$T/nb.log")" "veo-callback is missing; build first as your user \(make\)" \
		"... saying to build first, as the user"
	ok "$([ ! -e "$T/nobuild" ] && [ ! -e "$T/nb" ]; echo $?)" "... and builds and installs nothing"
	mkdir -p "$T/stale" && cp "$CALLBACK" "$SPOOLER" "$T/stale/"
	make -C "$ROOT" install DESTDIR="$T/st" B="$T/stale" >"$T/st.log" 2>&1
	ok $(( $? == 0 )) "as root, make install with programs older than their sources fails"
	like "$(cat "$T/st.log")" "older than their sources; run make as your user first" "... and says so"
	ok "$([ ! -e "$T/st" ] && [ "$(ls "$T/stale")" = "$(printf 'veo-callback\nveo-spooler')" ]; echo $?)" \
		"... without building or installing anything"
else
	make -s -C "$ROOT" install DESTDIR="$T/user" B="$T/userbuild" >"$T/user.log" 2>&1
	ok $? "as a user, make install builds what is missing first"
fi

done_testing
