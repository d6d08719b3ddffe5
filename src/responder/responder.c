#include "responder.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "callback.h"
#include "log.h"
#include "numparse.h"
#include "spool.h"

/* What a request came to: the reply and what the log line says. */
struct outcome {
	int status;
	char msg[256];		/* the reply's "msg", our own words */
	const char *result;	/* log word: stored, duplicate, rejected, ... */
	bool retry_after;
	bool allow_post;
	long pending;		/* health only, -1 otherwise */
};

struct req {
	const struct request_io *io;
	struct settings set;
	struct callback cb;
	bool cb_parsed;
	unsigned char *body;
	size_t body_len;
	bool verified;
};

static const char *
param(const struct req *r, const char *name)
{
	return r->io->param(r->io->ctx, name);
}

static int reject(struct outcome *o, int status, const char *result, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
reject(struct outcome *o, int status, const char *result, const char *fmt, ...)
{
	va_list ap;

	o->status = status;
	o->result = result;
	va_start(ap, fmt);
	vsnprintf(o->msg, sizeof o->msg, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 405: return "Method Not Allowed";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

/* Writes msg as a JSON string body (quotes, backslashes, controls escaped). */
static size_t
json_string(char *out, size_t len, const char *s)
{
	size_t o = 0;

	for (; *s && o + 8 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			out[o++] = '\\', out[o++] = (char)c;
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return o;
}

static void
send_reply(const struct request_io *io, const struct outcome *o, long long retry_after)
{
	char body[512], esc[300], head[512];
	int blen, hlen;

	json_string(esc, sizeof esc, o->msg);
	if (o->pending >= 0)
		blen = snprintf(body, sizeof body,
		    "{\"code\":%d,\"msg\":\"%s\",\"spool\":\"%s\",\"pending\":%ld}\n",
		    o->status, esc, o->status == 200 ? "writable" : "unavailable", o->pending);
	else
		blen = snprintf(body, sizeof body, "{\"code\":%d,\"msg\":\"%s\"}\n", o->status, esc);
	hlen = snprintf(head, sizeof head,
	    "Status: %d %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: %d\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Content-Type-Options: nosniff\r\n",
	    o->status, reason_phrase(o->status), blen);
	if (o->allow_post)
		hlen += snprintf(head + hlen, sizeof head - (size_t)hlen, "Allow: POST\r\n");
	if (o->retry_after)
		hlen += snprintf(head + hlen, sizeof head - (size_t)hlen,
		    "Retry-After: %lld\r\n", retry_after);
	hlen += snprintf(head + hlen, sizeof head - (size_t)hlen, "\r\n");
	/* A vanished client is not our error; the entry is stored either way. */
	if (io->write(io->ctx, head, (size_t)hlen) == 0)
		io->write(io->ctx, body, (size_t)blen);
}

static bool
is_health_query(const char *q)
{
	size_t n = strlen("health");

	for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
		if (strncmp(p, "health", n) == 0 && (p[n] == '\0' || p[n] == '&' || p[n] == '='))
			return true;
	return false;
}

static int
check_health(struct req *r, struct outcome *o)
{
	char err[256];

	o->result = "health";
	if (responder_auth_missing(&r->set) != NULL) {
		log_line("health: %s", responder_auth_missing(&r->set));
		o->status = 503;
		o->retry_after = true;
		snprintf(o->msg, sizeof o->msg, "server misconfigured");
		return -1;
	}
	if (spool_health(r->set.spool_dir, r->set.min_free, &o->pending, err, sizeof err) < 0) {
		log_line("health: %s", err);	/* details for the operator only */
		o->status = 503;
		o->retry_after = true;
		snprintf(o->msg, sizeof o->msg, "spool cannot take writes");
		return -1;
	}
	o->status = 200;
	snprintf(o->msg, sizeof o->msg, "ok");
	return 0;
}

static int
check_method(struct req *r, struct outcome *o)
{
	const char *m = param(r, "REQUEST_METHOD");

	if (m != NULL && strcmp(m, "POST") == 0)
		return 0;
	o->allow_post = true;
	return reject(o, 405, "rejected", "method %s not allowed; callbacks are POSTed",
	    m && strlen(m) < 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == strlen(m) ? m : "?");
}

const char *
responder_auth_missing(const struct settings *s)
{
	if (s->token != NULL || s->hmac_key != NULL || s->allow_from != NULL || s->auth_none)
		return NULL;
	return "no authentication configured: set token, hmac_key or allow_from "
	    "(or auth = none to accept callbacks from anyone)";
}

/*
 * Nothing is stored without a gate, unless the operator said "auth = none":
 * an open spool by default would take callbacks from anyone.  503, not 4xx:
 * kie.ai retries, and the callback arrives once the setting is fixed.
 */
static int
check_auth_configured(struct req *r, struct outcome *o)
{
	const char *why = responder_auth_missing(&r->set);

	if (why == NULL)
		return 0;
	log_line("configuration: %s", why);
	o->retry_after = true;
	return reject(o, 503, "misconfigured", "%s", "server misconfigured; try again later");
}

static int
check_address(struct req *r, struct outcome *o)
{
	char err[160];
	int ok;

	if (r->set.allow_from == NULL)
		return 0;
	ok = auth_addr_allowed(r->set.allow_from, param(r, "REMOTE_ADDR"), err, sizeof err);
	if (ok < 0) {
		log_line("configuration: %s", err);
		o->retry_after = true;
		return reject(o, 503, "misconfigured", "%s", "server misconfigured; try again later");
	}
	return ok ? 0 : reject(o, 403, "rejected", "%s", "address not allowed");
}

static int
check_token(struct req *r, struct outcome *o)
{
	enum token_result t;

	if (r->set.token == NULL)
		return 0;
	t = auth_token_check(r->set.token, param(r, "QUERY_STRING"));
	if (t == TOKEN_OK)
		return 0;
	if (t == TOKEN_ERROR) {
		/* Not the sender's fault: a 401 would make kie.ai give up. */
		o->retry_after = true;
		return reject(o, 503, "error", "%s", "token could not be checked; retry later");
	}
	return reject(o, 401, "rejected", "%s", "missing or wrong token");
}

/* Content-Length as a bounded decimal parse; 413 before any body is read. */
static int
check_length(struct req *r, struct outcome *o)
{
	const char *cl = param(r, "CONTENT_LENGTH");
	long long n;

	if (cl == NULL || *cl == '\0')
		return reject(o, 411, "rejected", "%s", "Content-Length required");
	if (cl[strspn(cl, "0123456789")] != '\0')
		return reject(o, 400, "rejected", "%s", "Content-Length is not a number");
	/* Digits only: what does not parse within max_body is too large. */
	if (num_parse(cl, 0, r->set.max_body, &n) < 0) {
		char lim[32];

		snprintf(lim, sizeof lim, "%lld", r->set.max_body);
		return reject(o, 413, "rejected", "body larger than max_body (%s bytes)", lim);
	}
	if (n == 0)
		return reject(o, 400, "rejected", "%s", "empty body");
	r->body_len = (size_t)n;
	return 0;
}

static int
check_type(struct req *r, struct outcome *o)
{
	const char *ct = param(r, "CONTENT_TYPE");
	size_t n = strlen("application/json");

	if (ct != NULL) {
		while (*ct == ' ')
			ct++;
		if (strncasecmp(ct, "application/json", n) == 0 &&
		    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '))
			return 0;
	}
	return reject(o, 415, "rejected", "%s", "Content-Type must be application/json");
}

static int
read_body(struct req *r, struct outcome *o)
{
	size_t got = 0;

	if ((r->body = malloc(r->body_len + 1)) == NULL) {
		o->retry_after = true;
		return reject(o, 503, "error", "%s", "out of memory");
	}
	while (got < r->body_len) {
		ssize_t n = r->io->read(r->io->ctx, r->body + got, r->body_len - got);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < r->body_len) {
		char what[64];

		snprintf(what, sizeof what, "%zu of %zu", got, r->body_len);
		return reject(o, 400, "rejected", "body shorter than Content-Length (%s bytes)", what);
	}
	r->body[got] = '\0';
	return 0;
}

static int
check_payload(struct req *r, struct outcome *o)
{
	char err[200];
	int rc;

	r->cb_parsed = true;
	rc = callback_parse(r->body, r->body_len, &r->cb, err, sizeof err);
	if (rc == CALLBACK_NOMEM) {
		/* Ours, not the sender's: 400 would make kie.ai give up. */
		o->retry_after = true;
		return reject(o, 503, "error", "%s", "out of memory; retry later");
	}
	if (rc < 0)
		return reject(o, 400, "rejected", "%s", err);
	return 0;
}

static int
check_signature(struct req *r, struct outcome *o)
{
	enum hmac_result h;

	if (r->set.hmac_key == NULL)
		return 0;
	h = auth_hmac_check(r->set.hmac_key, r->set.hmac_key_previous, r->set.hmac_tolerance,
	    r->cb.task_id, param(r, "HTTP_X_WEBHOOK_TIMESTAMP"),
	    param(r, "HTTP_X_WEBHOOK_SIGNATURE"), time(NULL));
	if (h == HMAC_ERROR) {
		o->retry_after = true;
		return reject(o, 503, "error", "%s", auth_hmac_reason(h));
	}
	if (h != HMAC_OK)
		return reject(o, 401, "rejected", "%s", auth_hmac_reason(h));
	r->verified = true;
	return 0;
}

static int
store(struct req *r, struct outcome *o)
{
	static const char *const words[] = {
		[SPOOL_STORED] = "stored", [SPOOL_DUPLICATE] = "duplicate",
		[SPOOL_REPLACED] = "replaced", [SPOOL_FULL] = "full", [SPOOL_ERROR] = "error",
	};
	struct spool_item it = {
		.task_id = r->cb.task_id, .code = r->cb.code,
		.body = r->body, .body_len = r->body_len,
		.remote_addr = param(r, "REMOTE_ADDR"),
		.signature_verified = r->verified,
	};
	struct spool_opts opts = { .sync = r->set.sync, .min_free = r->set.min_free };
	char err[256];
	enum spool_status st = spool_store(r->set.spool_dir, &it, &opts, err, sizeof err);

	o->result = words[st];
	if (st == SPOOL_FULL || st == SPOOL_ERROR) {
		log_line("spool %s: %s", r->set.spool_dir, err);
		o->retry_after = true;
		return reject(o, 503, words[st], "%s", "callback could not be stored; retry later");
	}
	o->status = 200;
	snprintf(o->msg, sizeof o->msg, "success");
	return 0;
}

static const char *
req_param(void *ctx, const char *name)
{
	const struct request_io *io = ctx;

	return io->param(io->ctx, name);
}

/*
 * Runs the checks in order; the first that fails decides the reply.  A
 * request that passes them all is stored.
 */
static void
run_checks(struct req *r, struct outcome *o)
{
	static int (*const checks[])(struct req *, struct outcome *) = {
		check_method, check_auth_configured, check_address, check_token,
		check_length, check_type,
		read_body, check_payload, check_signature,
	};
	const char *method = param(r, "REQUEST_METHOD");

	if (method != NULL && strcmp(method, "GET") == 0 &&
	    is_health_query(param(r, "QUERY_STRING"))) {
		check_health(r, o);
		return;
	}
	for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
		if (checks[i](r, o) < 0)
			return;
	(void)store(r, o);
}

static void
log_request(const struct req *r, const struct outcome *o, const struct timespec *t0)
{
	struct timespec t1;
	char ts[32], task[80], addr[64], msg[300];
	const char *ra = param(r, "REMOTE_ADDR");
	long long us;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (t1.tv_sec - t0->tv_sec) * 1000000LL + (t1.tv_nsec - t0->tv_nsec) / 1000;
	if (r->cb.task_id[0])
		log_escape(task, sizeof task, r->cb.task_id, strlen(r->cb.task_id));
	else
		strcpy(task, "-");
	log_escape(addr, sizeof addr, ra && *ra ? ra : "-", ra && *ra ? strlen(ra) : 1);
	log_escape(msg, sizeof msg, o->msg, strlen(o->msg));
	/* Successes are information; refusals warnings; our failures errors. */
	log_at(o->status < 400 ? LOG_LEVEL_INFO : o->status < 500 ? LOG_LEVEL_WARNING : LOG_LEVEL_ERR,
	    "%s status=%d task=%s remote=%s us=%lld result=%s msg=\"%s\"",
	    log_timestamp(ts, sizeof ts), o->status, task, addr, us, o->result, msg);
}

int
responder_handle(const struct config *cfg, const char *cfg_error,
    const struct request_io *io)
{
	struct req r = { .io = io };
	struct outcome o = { .status = 500, .result = "error", .pending = -1 };
	struct timespec t0;
	char err[256];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r.set.retry_after = 30;
	if (cfg == NULL || config_resolve(cfg, req_param, (void *)io, &r.set, err, sizeof err) < 0) {
		/* 503, not 500: the sender retries, and nothing is lost meanwhile. */
		log_line("configuration: %s", cfg == NULL ? cfg_error : err);
		o.retry_after = true;
		reject(&o, 503, "misconfigured", "%s", "server misconfigured; try again later");
	} else {
		run_checks(&r, &o);
	}
	send_reply(io, &o, r.set.retry_after);
	log_request(&r, &o, &t0);
	if (r.cb_parsed)
		callback_free(&r.cb);
	free(r.body);
	return o.status;
}
