#include "fetch.h"

#include <stdlib.h>
#include <time.h>

#include <curl/curl.h>

#include "xfer.h"

const char *
fetch_result_name(enum fetch_result r)
{
	switch (r) {
	case FETCH_OK:		return "ok";
	case FETCH_NOT_RUN:	return "not run";
	case FETCH_HTTP:	return "http error";
	case FETCH_NETWORK:	return "network error";
	case FETCH_BLOCKED:	return "blocked";
	case FETCH_TOO_BIG:	return "too big";
	case FETCH_SHORT:	return "short";
	case FETCH_BAD_CONTENT:	return "bad content";
	case FETCH_LOCAL:	return "local error";
	case FETCH_STOPPED:	return "stopped";
	case FETCH_DISK_FULL:	return "disk full";
	}
	return "unknown";
}

int
fetch_global_init(void)
{
	const curl_version_info_data *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	v = curl_version_info(CURLVERSION_NOW);
	/* CURLOPT_PROTOCOLS_STR needs 7.85; https needs a TLS backend. */
	if (v->version_num < 0x075500 || !(v->features & CURL_VERSION_SSL)) {
		curl_global_cleanup();
		return -1;
	}
	return 0;
}

void
fetch_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- the multi loop ---- */

/* Ends x: a lead's job is recorded, a helper's lead may go on. */
static void
end_xfer(struct xfer *x)
{
	struct xfer *lead;

	if (x->lead == NULL) {
		xfer_finish(x);
		return;
	}
	lead = xfer_helper_end(x);
	if (lead->hop.outcome != FETCH_OK) {
		xfer_finish(lead);		/* a helper failed the whole job */
		return;
	}
	if (!lead->waiting || lead->sealing)
		return;
	/* The lead waited for its helpers: whole now, or a range to take over. */
	switch (xfer_carry_on(lead)) {
	case XFER_WAIT:
		return;
	case XFER_AGAIN:
		lead->waiting = false;
		if (curl_multi_add_handle(lead->ctx->multi, lead->easy) == CURLM_OK)
			return;
		xfer_fail(lead, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
		break;
	case XFER_DONE:
		break;
	}
	xfer_finish(lead);
}

/* Reads finished transfers and decides what each does next. */
static void
drain(CURLM *multi)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
		struct xfer *x;
		char *priv = NULL;
		CURLcode rc;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
		x = (struct xfer *)(void *)priv;
		/* msg is invalid once the handle is removed: copy first. */
		rc = msg->data.result;
		curl_multi_remove_handle(multi, x->easy);
		switch (xfer_done(x, rc)) {
		case XFER_AGAIN:
			/* Next hop, range or a restart from zero: same slot. */
			if (curl_multi_add_handle(multi, x->easy) == CURLM_OK)
				continue;
			xfer_fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
			break;
		case XFER_WAIT:
			x->waiting = true;	/* its helpers end it */
			continue;
		case XFER_DONE:
			break;
		}
		/* Removing handles drops their queued messages: none dangles. */
		end_xfer(x);
	}
}

/*
 * The deadline has passed: every transfer under way stops, its .part kept
 * for the next run to resume (FETCH_STOPPED: no attempt is counted).
 */
static void
stop_all(struct fetch_ctx *c)
{
	for (size_t i = 0; i < c->nslots; i++) {
		struct xfer *x = &c->xs[i];

		/* A lead ends its helpers; helpers' slots are seen empty after.
		 * A whole file being sealed is let finish. */
		if (x->job == NULL || x->lead != NULL || x->sealing)
			continue;
		xfer_fail(x, FETCH_STOPPED, "stopped at the time limit of this run "
		    "(--max-time); it resumes in the next run");
		xfer_finish(x);
	}
}

static struct xfer *
free_slot(struct fetch_ctx *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		if (c->xs[i].job == NULL)
			return &c->xs[i];
	return NULL;
}

/* Jobs under way: each has a lead; helpers are not counted. */
static size_t
leads(const struct fetch_ctx *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nslots; i++)
		n += c->xs[i].job != NULL && c->xs[i].lead == NULL;
	return n;
}

static size_t
busy_slots(const struct fetch_ctx *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->nslots; i++)
		n += c->xs[i].job != NULL;
	return n;
}

/* Whole files the hasher has hashed and synced: put in place, recorded. */
static void
reap_sealed(struct fetch_ctx *c)
{
	for (size_t i = 0; i < c->nslots; i++)
		if (c->xs[i].job != NULL && c->xs[i].lead == NULL && xfer_reap_sealed(&c->xs[i]))
			xfer_finish(&c->xs[i]);
}

static bool
before_deadline(const struct fetch_opts *o)
{
	return o->deadline == 0 || time(NULL) < o->deadline;
}

int
fetch_run(struct fetch_job *jobs, size_t n, const struct fetch_opts *o)
{
	struct fetch_ctx c = { .o = o };
	struct xfer *x;
	size_t next = 0, i;
	size_t parallel = o->parallel > 0 ? (size_t)o->parallel : 1;
	time_t ticked = time(NULL), now;
	int still, rc = -1;

	/* parallel files at once; a split file may use up to per_host connections. */
	c.nslots = o->per_host > o->parallel ? (size_t)o->per_host : parallel;
	for (i = 0; i < n; i++)
		fetch_job_reset(&jobs[i]);
	if ((c.multi = curl_multi_init()) == NULL ||
	    (c.xs = calloc(c.nslots, sizeof *c.xs)) == NULL ||
	    (c.hasher = hasher_start()) == NULL ||
	    (o->progress && (c.pg = progress_new(n)) == NULL))
		goto err;
	curl_multi_setopt(c.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    o->per_host > 0 ? o->per_host : 1L);
	for (;;) {
		/* Fill the free slots, but start nothing after the deadline:
		 * new jobs first, then helpers for slow downloads. */
		while (next < n && leads(&c) < parallel && before_deadline(o) &&
		    (x = free_slot(&c)) != NULL) {
			xfer_init(x, &jobs[next], &c, next);
			if (xfer_start(x) < 0)
				xfer_finish(x);
			next++;
		}
		while (next == n && before_deadline(o) && (x = free_slot(&c)) != NULL &&
		    xfer_split(&c, x))
			;
		if (busy_slots(&c) == 0)
			break;
		if (curl_multi_perform(c.multi, &still) != CURLM_OK)
			break;
		drain(c.multi);
		reap_sealed(&c);
		if (!before_deadline(o))
			stop_all(&c);
		if (busy_slots(&c) > 0 && curl_multi_poll(c.multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		/* The poll wakes at least once a second, so does the tick. */
		if ((now = time(NULL)) != ticked) {
			ticked = now;
			xfer_tick(&c);
			if (o->tick != NULL)
				o->tick(o->tick_arg);
		}
	}
	/* Only after a libcurl failure are some still running. */
	for (i = 0; i < c.nslots; i++) {
		if (c.xs[i].job == NULL || c.xs[i].lead != NULL)
			continue;
		xfer_fail(&c.xs[i], FETCH_NETWORK, "libcurl failed during the transfer");
		xfer_finish(&c.xs[i]);
	}
	/* Jobs never started (the deadline came first) end here too. */
	for (i = next; o->job_done != NULL && i < n; i++)
		o->job_done(&jobs[i], o->job_done_arg);
	rc = 0;
err:
	progress_free(c.pg);
	hasher_stop(c.hasher);
	free(c.xs);
	if (c.multi != NULL)
		curl_multi_cleanup(c.multi);
	return rc;
}
