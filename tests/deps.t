#!/bin/bash
# tests/lib/install-deps.sh (make test's dependency step) must not stop or
# start a system web server: packages are installed under a policy-rc.d
# that forbids starting daemons, removed afterwards, and no service is ever
# stopped.  apt-get, dpkg-query and the service tools are stand-ins on PATH
# that record how they were called; nothing is installed.
. "$(dirname "$0")/lib/common.sh"

[ "$(id -u)" = 0 ] || skip_all "install-deps.sh installs only as root"

S=$T/stubs
mkdir -p "$S"
POLICY=$T/policy-rc.d
export VEO_POLICY_RC_D=$POLICY STUB_LOG=$T/calls
# Every package "missing", so the script installs; the curl source package
# "there", so that no deb-src entry is written to /etc/apt.
printf '#!/bin/sh\necho "deinstall ok config-files"\n' >"$S/dpkg-query"
printf '#!/bin/sh\necho "Package: curl"\n' >"$S/apt-cache"
cat >"$S/apt-get" <<STUB
#!/bin/sh
echo "apt-get \$*" >>"\$STUB_LOG"
case " \$* " in *" install "*)
	if [ -x "$POLICY" ] && "$POLICY" nginx start; then echo "policy allows starts" >>"\$STUB_LOG"
	else echo "policy says \$?" >>"\$STUB_LOG"; fi ;;
esac
exit \${STUB_APT_RC:-0}
STUB
for tool in service systemctl invoke-rc.d deb-systemd-invoke; do
	printf '#!/bin/sh\necho "%s $*" >>"$STUB_LOG"\n' "$tool" >"$S/$tool"
done
chmod 755 "$S"/*

PATH=$S:$PATH sh "$ROOT/tests/lib/install-deps.sh" 2>"$T/err"
ok $? "install-deps.sh runs (with stand-ins for apt-get)"
grep -q '^apt-get install .*nginx-light.*apache2' "$T/calls"
ok $? "it installs the packages, nginx and apache2 among them"
is "$(grep '^policy' "$T/calls")" "policy says 101" \
	"during the install a policy-rc.d forbids starting daemons (exit 101)"
is "$(grep -E '^(service|systemctl|invoke-rc.d|deb-systemd-invoke)' "$T/calls")" "" \
	"no service is stopped, started or restarted"
[ ! -e "$POLICY" ]
ok $? "the policy-rc.d is removed afterwards"

: >"$T/calls"
STUB_APT_RC=100 PATH=$S:$PATH sh "$ROOT/tests/lib/install-deps.sh" 2>"$T/err"
ok $(( $? == 0 )) "a failed apt-get install fails the step"
[ ! -e "$POLICY" ]
ok $? "... and the policy-rc.d is removed all the same"

printf '#!/bin/sh\n# the administrator'"'"'s own\nexit 0\n' >"$POLICY"
chmod 755 "$POLICY"
cp "$POLICY" "$T/policy.orig"
: >"$T/calls"
PATH=$S:$PATH sh "$ROOT/tests/lib/install-deps.sh" 2>"$T/err"
cmp -s "$POLICY" "$T/policy.orig"
ok $? "a policy-rc.d that was there already is left exactly as it was"
done_testing
