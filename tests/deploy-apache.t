#!/bin/bash
# The shipped Apache deployments, as shipped, against a real Apache httpd
# started on a loopback port with a generated top-level configuration:
#   apache.conf.example -D VEO_PROXY_FCGI  mod_proxy_fcgi to the socket of
#                                          examples/veo-callback.socket
#   apache.conf.example -D VEO_FCGID       mod_fcgid
#   apache.conf.example -D VEO_CGI         mod_cgid, ScriptAlias
#   examples/htaccess                      mod_cgid, .htaccess (shared hosting)
# Only ports and paths are substituted; the token is the shipped one.
# Apache's children run as www-data, as on Debian: the spools are theirs.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/deploy.sh"
export LC_ALL=C

command -v apache2 >/dev/null || skip_all "apache2 not installed"
command -v systemd-socket-activate >/dev/null || skip_all "systemd-socket-activate not installed"
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
[ "$(id -u)" = 0 ] || skip_all "needs root (Apache's children run as www-data)"
id www-data >/dev/null 2>&1 || skip_all "no www-data user"
MODS=/usr/lib/apache2/modules
for m in proxy proxy_fcgi fcgid cgid mpm_event authz_core authz_host alias env mime; do
	[ -f "$MODS/mod_$m.so" ] || skip_all "Apache module mod_$m not installed"
done

EX=$ROOT/apache.conf.example
HT=$ROOT/examples/htaccess
P=	# Apache's port: apache_start picks it
max=$(size_bytes "$(config_default max_body)")

# ---- the shipped files say what the issue asks for ----
for d in VEO_PROXY_FCGI VEO_FCGID VEO_CGI; do
	sect=$(sed -n "/^<IfDefine $d>/,/^<\/IfDefine>/p" "$EX")
	like "$sect" "LimitRequestBody $max" "shipped $d: LimitRequestBody equals max_body's default"
	like "$sect" '<LimitExcept POST>' "shipped $d: POST only"
	like "$sect" 'SetEnv VEO_TOKEN' "shipped $d: per-site settings with SetEnv"
done
like "$(sed -n '/^<IfDefine VEO_PROXY_FCGI>/,/^<\/IfDefine>/p' "$EX")" \
	'proxy:unix:/run/veo-callback/veo-callback.sock\|fcgi://' "shipped VEO_PROXY_FCGI: the socket of veo-callback.socket"
sed -n '/^<IfDefine VEO_FCGID>/,/^<\/IfDefine>/p' "$EX" >"$T/fcgid-section"
grep -q '^FcgidInitialEnv VEO_' "$T/fcgid-section" && grep -q '^FcgidMaxProcessesPerClass [0-9]' "$T/fcgid-section"
ok $? "shipped VEO_FCGID: FcgidInitialEnv and process limits"
like "$(tr '\n' ' ' <"$HT")" "Options \+ExecCGI.*AddHandler cgi-script.*LimitRequestBody $max.*SetEnv VEO_TOKEN" \
	"shipped htaccess: ExecCGI, cgi-script handler, LimitRequestBody, SetEnv"
is "$(shipped_token "$EX")" "$TOKEN_SHIPPED" "shipped apache.conf.example: the token the test posts with"
is "$(shipped_token "$HT")" "$TOKEN_SHIPPED" "shipped htaccess: the token the test posts with"

# ---- the program where Apache's user can run it ----
mkdir -p "$T/bin" "$T/run" "$T/htdocs/veo" "$T/apache"
cp "$CALLBACK" "$T/bin/veo-callback"
cp "$CALLBACK" "$T/htdocs/veo/veo-callback.cgi"
chmod 755 "$T/bin" "$T/bin/veo-callback" "$T/htdocs" "$T/htdocs/veo" "$T/htdocs/veo/veo-callback.cgi"
for s in proxy fcgid cgi htaccess; do
	mkdir -p "$T/spool-$s"
	chown www-data:www-data "$T/spool-$s"
done
mkdir -p "$T/apache/fcgid"
chown www-data:www-data "$T/apache/fcgid"

# The responder behind mod_proxy_fcgi: as the shipped systemd units say.
for u in veo-callback.socket veo-callback.service; do
	sed -e "s#/run/veo-callback/#$T/run/#" -e "s#/usr/local/sbin/veo-callback#$CALLBACK#" \
		"$ROOT/examples/$u" >"$T/$u"
done
start_socket_unit "$T/veo-callback.socket" "$T/veo-callback.service" responder \
	VEO_CONFIG=/dev/null
ok $? "responder socket-activated as the shipped units say (group www-data, mode 0660)"

# apache_start DEFINE SPOOL: Apache on 127.0.0.1:$P with apache.conf.example
# (paths substituted, the spool being SPOOL) and the htaccess directory.
# Apache cannot bind port 0 and report it: P is a candidate port, and when
# Apache could not bind it because it was taken, Apache is started again on
# another one (10 tries).
apache_start() {
	local try from
	for try in 1 2 3 4 5 6 7 8 9 10; do
		port_candidate P
		from=$(cat "$T/apache/error.log" 2>/dev/null | wc -l)
		apache_run "$@" && return 0
		tail -n +"$((from + 1))" "$T/apache/error.log" 2>/dev/null |
			grep -q "could not bind to address 127.0.0.1:$P\$" || break
		diag "port $P was taken; trying another"
	done
	diag "Apache did not start: $(tail -n 3 "$T/apache/error.log" 2>/dev/null)"
	return 1
}
# apache_up: Apache (APID) listens on $P, or it has exited.
apache_up() { listens "$APID" "$P" || ! proc_alive "$APID"; }
# apache_run DEFINE SPOOL: one try of apache_start on port $P.
apache_run() {
	sed -e "s#/run/veo-callback/#$T/run/#" -e "s#/usr/local/sbin/veo-callback#$T/bin/veo-callback#" \
	    -e "s#/var/spool/veo-callback#$2#" "$EX" >"$T/site.conf"
	cat >"$T/httpd.conf" <<EOF
ServerRoot $T/apache
ServerName 127.0.0.1
Listen 127.0.0.1:$P
PidFile $T/apache/httpd.pid
ErrorLog $T/apache/error.log
LogLevel warn
DefaultRuntimeDir $T/apache
User www-data
Group www-data
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule authz_host_module $MODS/mod_authz_host.so
LoadModule alias_module $MODS/mod_alias.so
LoadModule env_module $MODS/mod_env.so
LoadModule mime_module $MODS/mod_mime.so
LoadModule dir_module $MODS/mod_dir.so
LoadModule autoindex_module $MODS/mod_autoindex.so
LoadModule cgid_module $MODS/mod_cgid.so
LoadModule proxy_module $MODS/mod_proxy.so
LoadModule proxy_fcgi_module $MODS/mod_proxy_fcgi.so
LoadModule fcgid_module $MODS/mod_fcgid.so
TypesConfig /etc/mime.types
ScriptSock $T/apache/cgid.sock
FcgidIPCDir $T/apache/fcgid
FcgidProcessTableFile $T/apache/fcgid/shm
LogFormat "%h %r %>s" plain
CustomLog $T/apache/access.log plain
DocumentRoot $T/htdocs
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory $T/htdocs>
	AllowOverride All
	Require all granted
</Directory>
Include $T/site.conf
EOF
	rm -f "$T/apache/httpd.pid"
	apache2 -f "$T/httpd.conf" ${1:+-D "$1"} -DFOREGROUND 2>>"$T/apache/error.log" &
	APID=$!
	_pids="$_pids $APID"
	wait_until 15 "Apache to listen on 127.0.0.1:$P" apache_up
	listens "$APID" "$P" && return 0
	stop_failed "$APID"
	return 1
}
apache_stop() {
	kill -TERM "$APID" 2>/dev/null
	_i=0; while kill -0 "$APID" 2>/dev/null && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
	! kill -0 "$APID" 2>/dev/null
}


DEPLOY_LOG=$T/responder.log
apache_start VEO_PROXY_FCGI "$T/spool-proxy"
ok $? "Apache with apache.conf.example -D VEO_PROXY_FCGI"
check_deployment proxy_fcgi "http://127.0.0.1:$P/veo-callback" "$T/spool-proxy"
apache_stop
ok $? "Apache stopped"

DEPLOY_LOG=$T/apache/error.log	# mod_fcgid and mod_cgid log the responder's stderr there
apache_start VEO_FCGID "$T/spool-fcgid"
ok $? "Apache with apache.conf.example -D VEO_FCGID"
check_deployment fcgid "http://127.0.0.1:$P/veo-callback" "$T/spool-fcgid"
is "$(stat -c %U "$T/spool-fcgid/new/deploy_fcgid_$$" 2>/dev/null)" www-data \
	"fcgid: the responder ran as Apache's user"
apache_stop
ok $? "Apache stopped"
i=0
while pgrep -f "^$T/bin/veo-callback" >/dev/null && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
pgrep -f "^$T/bin/veo-callback" >/dev/null
is $? 1 "fcgid: no responder process left after Apache stopped"

apache_start VEO_CGI "$T/spool-cgi"
ok $? "Apache with apache.conf.example -D VEO_CGI"
check_deployment cgi "http://127.0.0.1:$P/veo-callback" "$T/spool-cgi"
dreq "http://127.0.0.1:$P/veo-callback?health"
is "$ST" 200 "cgi: GET ?health (no '=') reaches the health check"
apache_stop
ok $? "Apache stopped"

# Shared hosting: nothing in the server configuration but AllowOverride All;
# the shipped .htaccess beside the program in the web directory.
sed -e "s#/home/example/veo-spool#$T/spool-htaccess#" "$HT" >"$T/htdocs/veo/.htaccess"
diff "$HT" "$T/htdocs/veo/.htaccess" | grep '^>' | grep -qv "$T"
ok $((! $?)) "htaccess: only paths differ from the shipped file"
apache_start "" "$T/spool-unused"
ok $? "Apache with examples/htaccess in the web directory, no Define"
check_deployment htaccess "http://127.0.0.1:$P/veo/veo-callback.cgi" "$T/spool-htaccess"
is "$(stat -c %U "$T/spool-htaccess/new/deploy_htaccess_$$" 2>/dev/null)" www-data \
	"htaccess: the CGI ran as Apache's user"
dreq "http://127.0.0.1:$P/veo/"
is "$ST" 403 "htaccess: no directory listing"
apache_stop
ok $? "Apache stopped"

is "$(count_files "$T/spool-unused")" 0 "no Define: apache.conf.example enables nothing"
grep -q "$TOKEN_SHIPPED" "$T/responder.log"
is $? 1 "the token reaches no log of the responder"
# Errors Apache logs: the expected ones are the refused GET from 127.0.0.2
# (AH01630), the refused directory listing (AH01276) and the refused
# oversized bodies (AH01270); the CGI bug's footprints are counted apart.
grep -E ':(error|crit|alert|emerg)\]' "$T/apache/error.log" >"$T/apache-errors"
grep -v -e AH01630 -e AH01276 -e AH01270 -e AH00574 -e AH02651 -e 'End of script output before headers' \
	"$T/apache-errors" >"$T/apache-unexpected"
is "$(cat "$T/apache-unexpected")" "" "Apache logged no unexpected error"
is "$(grep -c -e AH00574 -e AH02651 -e 'End of script output before headers' "$T/apache-errors")" 0 \
	"Apache logged no error caused by the responder under CGI (early exit, ?health as argv)"

done_testing
