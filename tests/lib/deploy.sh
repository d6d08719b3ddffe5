# Helpers for the deployment tests (deploy-nginx.t, deploy-apache.t): the
# shipped configurations are used as shipped, with only ports and paths
# substituted, against real servers.  Source after common.sh.

TOKEN_SHIPPED='change-me-0b2d7c9a41e6f35d8a7c1e90'	# the token in the shipped files

# shipped_token FILE: the token a shipped file sets (VEO_TOKEN ...), unquoted.
shipped_token() {
	sed -n 's/^[[:space:]]*\(fastcgi_param\|SetEnv\)[[:space:]]\{1,\}VEO_TOKEN[[:space:]]\{1,\}"\{0,1\}\([^";]*\)"\{0,1\};\{0,1\}[[:space:]]*$/\2/p' "$1" | head -n 1
}

# The default of KEY in src/common/config.c's key table.
config_default() {
	sed -n "s/^.*{ \"$1\", T_[A-Z]*, \"\([^\"]*\)\".*/\1/p" "$ROOT/src/common/config.c"
}

# size_bytes 64K: a size as config.c reads it (K, M, G binary), in bytes.
size_bytes() {
	case $1 in
	*[kK]) echo $(( ${1%?} * 1024 )) ;;
	*[mM]) echo $(( ${1%?} * 1024 * 1024 )) ;;
	*[gG]) echo $(( ${1%?} * 1024 * 1024 * 1024 )) ;;
	*) echo "$1" ;;
	esac
}

# unit_value FILE KEY: the value of KEY= in a systemd unit (last one wins).
unit_value() { sed -n "s/^$2=//p" "$1" | tail -n 1; }

# start_socket_unit SOCKET-UNIT SERVICE-UNIT NAME [VAR=value ...]
# Emulates what systemd does with the (already path-substituted) shipped
# units: systemd-socket-activate listens on the .socket's ListenStream= with
# its SocketGroup= and SocketMode=, and starts the .service's ExecStart= with
# LISTEN_FDS and, for StandardInput=socket, the socket on stdin too.  The
# responder's stderr goes to $T/NAME.log; the pid is added to $_pids.
start_socket_unit() {
	_su=$1 _sv=$2 _nm=$3; shift 3
	_sock=$(unit_value "$_su" ListenStream)
	_exec=$(unit_value "$_sv" ExecStart)
	_env=""
	for _v in "$@"; do _env="$_env -E $_v"; done
	mkdir -p "$(dirname "$_sock")"
	chmod "$(unit_value "$_su" DirectoryMode)" "$(dirname "$_sock")"
	rm -f "$_sock"
	if [ "$(unit_value "$_sv" StandardInput)" = socket ]; then
		# shellcheck disable=SC2086
		systemd-socket-activate -l "$_sock" $_env -- /bin/sh -c 'exec "$@" <&3' sh $_exec \
			2>>"$T/$_nm.log" &
	else
		# shellcheck disable=SC2086
		systemd-socket-activate -l "$_sock" $_env -- $_exec 2>>"$T/$_nm.log" &
	fi
	_pids="$_pids $!"
	wait_for_file "$_sock" || return 1
	chgrp "$(unit_value "$_su" SocketGroup)" "$_sock" &&
		chmod "$(unit_value "$_su" SocketMode)" "$_sock"
}

# self_signed NAME HOST: a certificate for HOST in $T/NAME.crt, key in $T/NAME.key.
self_signed() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=$2" -addext "subjectAltName=DNS:$2" \
		-keyout "$T/$1.key" -out "$T/$1.crt" 2>/dev/null
}

# dreq CURL-ARGS...: one request; sets ST and BODY, headers in $T/hdrs.
dreq() {
	ST=$(curl -s --max-time 20 -o "$T/body" -D "$T/hdrs" -w '%{http_code}' "$@")
	BODY=$(cat "$T/body" 2>/dev/null)
}
# dpost URL BODY [CURL-ARGS...]: a JSON POST of BODY (a string) to URL.
dpost() {
	_u=$1; printf '%s' "$2" >"$T/pbody"; shift 2
	dreq -H 'Content-Type: application/json' --data-binary @"$T/pbody" "$@" "$_u"
}
# A valid callback of exactly N bytes for TASKID (msg padded).
sized_body() {
	_b=$(sample_body "$1")
	_pad=$(( $2 - ${#_b} ))
	printf '%s' "$_b" | sed "s/\"msg\":\"/\"msg\":\"$(head -c "$_pad" /dev/zero | tr '\0' x)/"
}

# The file where the responder's log lines (its stderr) go.
DEPLOY_LOG=/dev/null

# check_deployment NAME URL SPOOL [CURL-ARGS...]: the four requests of the
# issue through a deployed configuration whose token is TOKEN_SHIPPED and
# whose spool is SPOOL (new/ holds stored callbacks), plus the body limit at
# its edge and the POST-only rule.  URL has no query string.
check_deployment() {
	_n=$1 _url=$2 _sp=$3; shift 3
	_tid="deploy_${_n}_$$"

	dpost "$_url?token=$TOKEN_SHIPPED" "$(sample_body "$_tid")" "$@"
	is "$ST" 200 "$_n: a valid callback is answered 200"
	is "$BODY" '{"code":200,"msg":"success"}' "$_n: with the success body"
	ok "$([ -f "$_sp/new/$_tid" ]; echo $?)" "$_n: the callback is stored in new/"
	is "$(entry_body "$_sp/new/$_tid" 2>/dev/null)" "$(sample_body "$_tid")" \
		"$_n: the stored body is the posted body, byte for byte"
	_before=$(count_files "$_sp/new")
	_l401=$(grep -c 'status=401 ' "$DEPLOY_LOG" 2>/dev/null)

	dpost "$_url?token=$TOKEN_SHIPPED" '{"code":200,"msg":"x","data":{"taskId":"'"$_tid"'_bad"' "$@"
	is "$ST" 400 "$_n: invalid JSON is answered 400"
	is "$(printf '%s' "$BODY" | json_code)" 400 "$_n: with a JSON error body"
	dpost "$_url?token=$TOKEN_SHIPPED" '{"code":200,"msg":"x","data":{"taskId":"'"$_tid"'_nourl","info":{}}}' "$@"
	is "$ST" 400 "$_n: code 200 without resultUrls is answered 400"
	is "$(count_files "$_sp/new")" "$_before" "$_n: nothing stored for invalid callbacks"

	dpost "$_url" "$(sample_body "${_tid}_noauth")" "$@"
	is "$ST" 401 "$_n: a callback without the token is answered 401"
	is "$(printf '%s' "$BODY" | json_code)" 401 "$_n: with a JSON error body"
	dpost "$_url?token=wrong-$TOKEN_SHIPPED" "$(sample_body "${_tid}_noauth")" "$@"
	is "$ST" 401 "$_n: a callback with a wrong token is answered 401"
	# Whatever the client saw, the responder decided 401 both times.
	_i=0
	while [ "$(grep -c 'status=401 ' "$DEPLOY_LOG" 2>/dev/null)" != $((_l401 + 2)) ] && [ $_i -lt 40 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	is "$(grep -c 'status=401 ' "$DEPLOY_LOG" 2>/dev/null)" $((_l401 + 2)) "$_n: the responder logged both 401s"
	ok "$([ ! -e "$_sp/new/${_tid}_noauth" ]; echo $?)" "$_n: nothing stored for unauthorised callbacks"

	_max=$(size_bytes "$(config_default max_body)")
	dpost "$_url?token=$TOKEN_SHIPPED" "$(sized_body "${_tid}_big" $((_max + 1)))" "$@"
	is "$ST" 413 "$_n: a body of max_body + 1 bytes is answered 413"
	ok "$([ ! -e "$_sp/new/${_tid}_big" ]; echo $?)" "$_n: nothing stored for the oversized body"
	dpost "$_url?token=$TOKEN_SHIPPED" "$(sized_body "${_tid}_edge" "$_max")" "$@"
	is "$ST" 200 "$_n: a body of exactly max_body bytes passes the server's limit and is stored"
	ok "$([ -f "$_sp/new/${_tid}_edge" ]; echo $?)" "$_n: the max_body callback is stored"

	dreq --interface 127.0.0.2 "$_url?health=1" "$@"
	is "$ST" 403 "$_n: GET from another address is refused (POST only)"
	dreq "$_url?health=1" "$@"
	is "$ST" 200 "$_n: GET ?health=1 from this machine reaches the responder"
	like "$BODY" '"spool":"writable"' "$_n: the health reply says the spool is writable"
	ok "$([ -z "$(find "$_sp/tmp" -type f 2>/dev/null)" ]; echo $?)" "$_n: no temp file left behind"
}
