#!/bin/bash
# The shipped nginx deployment, as shipped: nginx.conf.example (TLS, HTTP
# redirect, POST only, body limit, fastcgi_param settings) in front of the
# responder started the way examples/veo-callback.socket and
# examples/veo-callback.service say, configured by examples/veo-callback.conf.
# Only ports and paths are substituted; the token is the shipped one.
. "$(dirname "$0")/lib/common.sh"
. "$(dirname "$0")/lib/deploy.sh"
export LC_ALL=C

command -v nginx >/dev/null || skip_all "nginx not installed"
command -v systemd-socket-activate >/dev/null || skip_all "systemd-socket-activate not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
[ -x "$CALLBACK" ] || skip_all "build/veo-callback not built (run make)"
[ "$(id -u)" = 0 ] || skip_all "needs root (nginx workers run as www-data, as on Debian)"
id www-data >/dev/null 2>&1 || skip_all "no www-data user"

EX=$ROOT/nginx.conf.example
# Two candidate ports; if one is taken by the time nginx binds, nginx is
# started again with two others (nginx cannot bind port 0 and report it).
new_ports() {
	port_candidate P80
	port_candidate P443
	while [ "$P443" = "$P80" ]; do port_candidate P443; done
}
new_ports
mkdir -p "$T/spool" "$T/spool-file" "$T/videos" "$T/nginx-tmp"

# ---- the shipped file says what the issue asks for ----
grep -q 'fastcgi_pass unix:/run/veo-callback/veo-callback.sock;' "$EX"
ok $? "shipped: fastcgi_pass to the unix socket of veo-callback.socket"
grep -q '^[[:space:]]*listen 443 ssl;' "$EX" && grep -q 'return 301 https://' "$EX"
ok $? "shipped: TLS, and plain HTTP redirected to HTTPS"
grep -q '^[[:space:]]*limit_except POST' "$EX"
ok $? "shipped: the callback location allows POST only"
max=$(size_bytes "$(config_default max_body)")
cmb=$(sed -n 's/^[[:space:]]*client_max_body_size \([0-9]*[kKmM]\{0,1\}\);.*/\1/p' "$EX")
is "$(size_bytes "$cmb")" "$max" "shipped: client_max_body_size equals max_body's default"
grep -q '^[[:space:]]*fastcgi_param VEO_' "$EX"
ok $? "shipped: per-site VEO_* settings as fastcgi_param"
is "$(shipped_token "$EX")" "$TOKEN_SHIPPED" "shipped: the token placeholder the test posts with"

# ---- ports and paths substituted, nothing else ----
self_signed tls callback.example.com
ok $? "a self-signed certificate for callback.example.com"
site_conf() {	# the shipped server blocks, ports $P80 and $P443 and paths substituted
	sed -e "s#^\([[:space:]]*\)listen 80;#\1listen 127.0.0.1:$P80;#" \
	    -e "s#^\([[:space:]]*\)listen 443 ssl;#\1listen 127.0.0.1:$P443 ssl;#" \
	    -e '/^[[:space:]]*listen \[::\]:/d' \
	    -e "s#/etc/letsencrypt/live/callback.example.com/fullchain.pem#$T/tls.crt#" \
	    -e "s#/etc/letsencrypt/live/callback.example.com/privkey.pem#$T/tls.key#" \
	    -e "s#/run/veo-callback/#$T/run/#" \
	    -e "s#/var/spool/veo-callback#$T/spool#" \
	    -e "s#/var/log/nginx/#$T/#" \
	    "$EX" >"$T/site.conf"
}
site_conf
diff "$EX" "$T/site.conf" | grep '^>' | grep -qv -e "$T" -e "127.0.0.1:$P80" -e "127.0.0.1:$P443"
ok $((! $?)) "only ports and paths differ from the shipped file"
grep -q -e '/etc/letsencrypt' -e '[ :]/run/veo-callback/' -e '/var/log/nginx/' -e 'listen 80;' -e 'listen 443' "$T/site.conf"
ok $((! $?)) "every port and path was substituted"

# The service's configuration file: the shipped sample, paths substituted.
# Its spool_dir differs from nginx's fastcgi_param, which must win.
sed -e "s#/var/spool/veo-callback#$T/spool-file#" -e "s#/var/lib/veo-callback/videos#$T/videos#" \
	"$ROOT/examples/veo-callback.conf" >"$T/veo-callback.conf"

for u in veo-callback.socket veo-callback.service; do
	sed -e "s#/run/veo-callback/#$T/run/#" -e "s#/usr/local/sbin/veo-callback#$CALLBACK#" \
		"$ROOT/examples/$u" >"$T/$u"
done
start_socket_unit "$T/veo-callback.socket" "$T/veo-callback.service" responder \
	VEO_CONFIG="$T/veo-callback.conf"
ok $? "responder socket-activated as the shipped units say (group www-data, mode 0660)"

# Debian's nginx.conf, reduced to what the test needs: workers as www-data.
cp /etc/nginx/fastcgi_params "$T/fastcgi_params"
cat >"$T/nginx.conf" <<NGX
user www-data;
daemon off;
master_process on;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err info;
events { worker_connections 64; }
http {
	access_log $T/nginx.access;
	client_body_temp_path $T/nginx-tmp/body;
	fastcgi_temp_path $T/nginx-tmp/fcgi;
	proxy_temp_path $T/nginx-tmp/proxy;
	uwsgi_temp_path $T/nginx-tmp/uwsgi;
	scgi_temp_path $T/nginx-tmp/scgi;
	include $T/site.conf;
}
NGX
nginx -t -q -c "$T/nginx.conf" -p "$T" 2>>"$T/nginx.err"
ok $? "nginx -t accepts the shipped server blocks"
for try in 1 2 3 4 5 6 7 8 9 10; do
	from=$(cat "$T/nginx.err" 2>/dev/null | wc -l)
	nginx -c "$T/nginx.conf" -p "$T" -e "$T/nginx.err" 2>>"$T/nginx.err" &
	NPID=$!
	nginx_wait "$NPID" "$T/nginx.err" "$from" "$P443" "$P80"
	rc=$?
	[ $rc = 0 ] && break
	stop_failed "$NPID"
	[ $rc = 2 ] || break
	diag "port $P80 or $P443 was taken; trying two others"
	new_ports
	site_conf
done
_pids="$_pids $NPID"
[ $rc = 0 ]
ok $? "nginx listening on 127.0.0.1:$P80 and :$P443"
[ $rc = 0 ] || diag "$(tail -n 5 "$T/nginx.err")"

# ---- requests, over verified TLS to the configured name ----
URL=https://callback.example.com:$P443/veo-callback
TLS="--cacert $T/tls.crt --resolve callback.example.com:$P443:127.0.0.1"
DEPLOY_LOG=$T/responder.log
# shellcheck disable=SC2086
check_deployment nginx "$URL" "$T/spool" $TLS

is "$(count_files "$T/spool-file/new")" 0 "fastcgi_param VEO_SPOOL_DIR beats the configuration file"
like "$(cat "$T/responder.log")" "status=200 task=deploy_nginx_$$ remote=127.0.0.1 us=[0-9]+ result=stored" \
	"the responder logs one line per request"
# (nginx's error log does record the request line of refused requests, 413
# for one: README's security notes say so.)
grep -q "$TOKEN_SHIPPED" "$T/responder.log" "$T/nginx.access" "$T/veo-callback.access.log"
is $? 1 "the token reaches neither the responder's log nor the access logs"
like "$(cat "$T/veo-callback.access.log")" '"POST /veo-callback HTTP/1\.1" 200 ' \
	"the callback location's access log has the path without the query"

dpost "http://127.0.0.1:$P80/veo-callback?token=$TOKEN_SHIPPED" "$(sample_body plain_http)"
is "$ST" 301 "plain HTTP is redirected"
like "$(reply_header Location <"$T/hdrs")" '^https://127\.0\.0\.1/veo-callback\?token=' "to the same URL over HTTPS"
ok "$([ ! -e "$T/spool/new/plain_http" ]; echo $?)" "nothing stored from plain HTTP"

# shellcheck disable=SC2086
dreq $TLS "https://callback.example.com:$P443/other"
is "$ST" 404 "other paths are not served"

kill -QUIT "$NPID"
wait "$NPID"
ok $? "nginx stops gracefully"

done_testing
