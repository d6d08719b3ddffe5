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

/* Reads finished transfers; returns how many ended for good. */
static size_t
drain(CURLM *multi)
{
	CURLMsg *msg;
	size_t ended = 0;
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
		if (xfer_done(x, rc) == XFER_AGAIN) {
			/* Next hop, or a restart from zero: same job, same slot. */
			if (curl_multi_add_handle(multi, x->easy) == CURLM_OK)
				continue;
			xfer_fail(x, FETCH_LOCAL, "cannot set up libcurl (out of memory?)");
		}
		xfer_finish(x, multi);
		ended++;
	}
	return ended;
}

/*
 * The deadline has passed: every transfer under way stops, its .part kept
 * for the next run to resume (FETCH_STOPPED: no attempt is counted).
 */
static size_t
stop_all(struct xfer *xs, size_t nslots, CURLM *multi)
{
	size_t stopped = 0;

	for (size_t i = 0; i < nslots; i++) {
		if (xs[i].job == NULL)
			continue;
		xfer_fail(&xs[i], FETCH_STOPPED, "stopped at the time limit of this run "
		    "(--max-time); it resumes in the next run");
		xfer_finish(&xs[i], multi);
		stopped++;
	}
	return stopped;
}

static struct xfer *
free_slot(struct xfer *xs, size_t nslots)
{
	for (size_t i = 0; i < nslots; i++)
		if (xs[i].job == NULL)
			return &xs[i];
	return NULL;
}

int
fetch_run(struct fetch_job *jobs, size_t n, const struct fetch_opts *o)
{
	CURLM *multi = NULL;
	struct xfer *xs = NULL, *x;
	struct progress *pg = NULL;
	size_t next = 0, active = 0, i;
	size_t parallel = o->parallel > 0 ? (size_t)o->parallel : 1;
	time_t ticked = time(NULL), now;
	int still, rc = -1;

	for (i = 0; i < n; i++)
		fetch_job_reset(&jobs[i]);
	if ((multi = curl_multi_init()) == NULL ||
	    (xs = calloc(parallel, sizeof *xs)) == NULL ||
	    (o->progress && (pg = progress_new(n)) == NULL))
		goto err;
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
	    o->per_host > 0 ? o->per_host : 1L);
	for (;;) {
		/* Fill up to parallel, but start nothing after the deadline. */
		while (next < n && active < parallel &&
		    (o->deadline == 0 || time(NULL) < o->deadline) &&
		    (x = free_slot(xs, parallel)) != NULL) {
			xfer_init(x, &jobs[next], o, pg, next);
			if (xfer_start(x, multi) == 0)
				active++;
			else
				xfer_finish(x, multi);
			next++;
		}
		if (active == 0)
			break;
		if (curl_multi_perform(multi, &still) != CURLM_OK)
			break;
		active -= drain(multi);
		if (active > 0 && o->deadline != 0 && time(NULL) >= o->deadline)
			active -= stop_all(xs, parallel, multi);
		if (active > 0 && curl_multi_poll(multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
		/* The poll wakes at least once a second, so does the tick. */
		if (o->tick != NULL && (now = time(NULL)) != ticked) {
			ticked = now;
			o->tick(o->tick_arg);
		}
	}
	/* Only after a libcurl failure are some still running. */
	for (i = 0; i < parallel; i++) {
		if (xs[i].job == NULL)
			continue;
		xfer_fail(&xs[i], FETCH_NETWORK, "libcurl failed during the transfer");
		xfer_finish(&xs[i], multi);
	}
	/* Jobs never started (the deadline came first) end here too. */
	for (i = next; o->job_done != NULL && i < n; i++)
		o->job_done(&jobs[i], o->job_done_arg);
	rc = 0;
err:
	progress_free(pg);
	free(xs);
	if (multi != NULL)
		curl_multi_cleanup(multi);
	return rc;
}
