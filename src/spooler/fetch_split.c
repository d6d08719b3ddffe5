/*
 * Ranges of a download and splitting them (xfer.h).
 *
 * A connection that is slow per connection (a CDN that gives each one
 * 50 KB/s) is not made faster by waiting: when a slot is free and no job
 * waits for it, the range of a running download with the most left gets
 * cut in two, and a helper fetches the second half on its own connection,
 * as download accelerators do.  Only when worth it: the range must hold
 * at least 2 * SPLIT_MIN bytes more, and still need more than SPLIT_AFTER
 * seconds at the speed a connection of this download has shown over a
 * second.
 * The split is saved in the sidecar (synced) before a helper writes a
 * byte, so a crash never leaves holes that a resume would take for data.
 */
#include "xfer.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SPLIT_AFTER	2.0	/* seconds left at the current speed */
#define SPLIT_ALIGN	(64 * 1024)
#define CHECKPOINT_EVERY 5	/* seconds between saves of a split's progress */

static bool
range_open(const struct part_range *r)
{
	return r->end < 0 || r->pos < r->end;
}

long long
xfer_prefix(const struct xfer *lead)
{
	const struct partinfo *pi = &lead->pi;
	long long at = 0;
	size_t i, steps;

	/* The ranges tile the file; n <= 16, so follow them from 0. */
	for (steps = 0; steps < pi->nranges; steps++) {
		for (i = 0; i < pi->nranges; i++)
			if (pi->range[i].start == at)
				break;
		if (i == pi->nranges)
			break;
		if (range_open(&pi->range[i]))
			return pi->range[i].pos;
		at = pi->range[i].end;
	}
	return at;
}

long long
xfer_have(const struct xfer *lead)
{
	long long have = 0;

	for (size_t i = 0; i < lead->pi.nranges; i++)
		have += lead->pi.range[i].pos - lead->pi.range[i].start;
	return have;
}

bool
xfer_all_done(const struct xfer *lead)
{
	if (lead->pi.nranges == 0)
		return false;
	for (size_t i = 0; i < lead->pi.nranges; i++)
		if (range_open(&lead->pi.range[i]))
			return false;
	return true;
}

int
xfer_unowned_range(const struct xfer *lead)
{
	int best = -1;

	for (size_t i = 0; i < lead->pi.nranges; i++)
		if (range_open(&lead->pi.range[i]) && lead->owner[i] == NULL &&
		    (best < 0 || lead->pi.range[i].start < lead->pi.range[best].start))
			best = (int)i;
	return best;
}

long long
xfer_reached(const struct xfer *x)
{
	if (x->rng < 0)
		return x->hop.received;
	return xfer_lead((struct xfer *)x)->pi.range[x->rng].pos + (long long)x->hop.wlen;
}

void
xfer_one_range(struct xfer *lead, long long total)
{
	memset(lead->owner, 0, sizeof lead->owner);
	lead->pi.nranges = 1;
	lead->pi.range[0] = (struct part_range){ 0, 0, total };
	lead->owner[0] = lead;
	lead->rng = 0;
}

int
xfer_checkpoint(struct xfer *lead)
{
	if (lead->pi.nranges <= 1 || lead->fd < 0)
		return 0;
	lead->checkpointed = time(NULL);
	/* The bytes first, then the sidecar that vouches for them. */
	if (fdatasync(lead->fd) < 0 || partinfo_save(lead->info, &lead->pi) < 0)
		return -1;
	return 0;
}

void
xfer_tick(struct fetch_ctx *c)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < c->nslots; i++) {
		struct xfer *x = &c->xs[i];

		if (x->job != NULL && x->lead == NULL && x->pi.nranges > 1 &&
		    now - x->checkpointed >= CHECKPOINT_EVERY)
			(void)xfer_checkpoint(x);
	}
}

/* Connections working for lead's job, lead included. */
static long
connections(const struct fetch_ctx *c, const struct xfer *lead)
{
	long n = 0;

	for (size_t i = 0; i < c->nslots; i++)
		if (c->xs[i].job != NULL && xfer_lead(&c->xs[i]) == lead)
			n++;
	return n;
}

static double
seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * The speed of one connection of lead's download, bytes a second, from x
 * when it has run a second, else from what another connection measured;
 * 0 while unknown.  A helper just started is as fast as the others: its
 * range can be split at once, which spreads a large file quickly.
 */
static double
connection_speed(struct xfer *lead, const struct xfer *x)
{
	double took;

	if (x->hop.body && (took = seconds_since(&x->hop.began)) >= 1.0)
		lead->conn_speed = (double)x->hop.received / took;
	return lead->conn_speed;
}

/* The bytes x's range still needs, when splitting it is worth it; else 0. */
static long long
worth_splitting(const struct fetch_ctx *c, struct xfer *x)
{
	struct xfer *lead = xfer_lead(x);
	const struct part_range *rg;
	long long left;
	double speed;

	/* A range whose answer has not begun is split too: the largest range
	 * is always the one cut, so the pieces come out even. */
	if (x->job == NULL || x->easy == NULL || x->rng < 0 ||
	    x->hop.range_end || !lead->splittable || lead->waiting ||
	    lead->pi.nranges >= PART_MAX_RANGES ||
	    connections(c, lead) >= (c->o->per_host > 0 ? c->o->per_host : 1))
		return 0;
	rg = &lead->pi.range[x->rng];
	left = rg->end - xfer_reached(x);
	if (rg->end < 0 || left < 2 * SPLIT_MIN || (speed = connection_speed(lead, x)) <= 0)
		return 0;
	return (double)left / speed < SPLIT_AFTER ? 0 : left;
}

/* Starts helper h on range r of lead's file.  0 or -1 (h then ended). */
static int
start_helper(struct fetch_ctx *c, struct xfer *h, struct xfer *lead, int r)
{
	memset(h, 0, sizeof *h);
	h->job = lead->job;
	h->lead = lead;
	h->ctx = c;
	h->o = c->o;
	h->slot = lead->slot;
	h->fd = -1;
	h->rng = -1;
	h->hop = (struct hop){ .announced = -1, .outcome = FETCH_OK };
	memcpy(h->name, lead->name, sizeof h->name);
	lead->owner[r] = h;
	if (xfer_new_easy(h) < 0 || xfer_set_url(h, lead->url) < 0 ||
	    xfer_ask_range(h, r) < 0 || curl_multi_add_handle(c->multi, h->easy) != CURLM_OK) {
		(void)xfer_helper_end(h);
		return -1;
	}
	return 0;
}

/* A resumed download's ranges nobody fetches yet get their own connection. */
static bool
take_unowned(struct fetch_ctx *c, struct xfer *slot)
{
	for (size_t i = 0; i < c->nslots; i++) {
		struct xfer *lead = &c->xs[i];
		int r;

		if (lead->job == NULL || lead->lead != NULL || lead->fd < 0 ||
		    !lead->splittable || lead->hop.outcome != FETCH_OK ||
		    (r = xfer_unowned_range(lead)) < 0 ||
		    connections(c, lead) >= (c->o->per_host > 0 ? c->o->per_host : 1))
			continue;
		if (start_helper(c, slot, lead, r) == 0)
			return true;
		lead->splittable = false;
	}
	return false;
}

bool
xfer_split(struct fetch_ctx *c, struct xfer *slot)
{
	struct xfer *best = NULL, *lead;
	struct part_range *rg, *piece;
	long long left, most = 0, mid;
	size_t n;

	if (take_unowned(c, slot))
		return true;
	for (size_t i = 0; i < c->nslots; i++)
		if ((left = worth_splitting(c, &c->xs[i])) > most) {
			most = left;
			best = &c->xs[i];
		}
	if (best == NULL)
		return false;
	lead = xfer_lead(best);
	rg = &lead->pi.range[best->rng];
	mid = xfer_reached(best) + most / 2;
	mid -= mid % SPLIT_ALIGN;
	n = lead->pi.nranges++;
	piece = &lead->pi.range[n];
	*piece = (struct part_range){ mid, mid, rg->end };
	rg->end = mid;
	if (xfer_checkpoint(lead) < 0) {
		/* Unsaved, a split could leave holes taken for data: undo it. */
		rg->end = piece->end;
		lead->pi.nranges--;
		lead->splittable = false;
		return false;
	}
	if (start_helper(c, slot, lead, (int)n) < 0) {
		/* The piece stays; the lead fetches it after its own range. */
		lead->splittable = false;
		return false;
	}
	return true;
}

/* Helper failures that end the job: the disk, or what the file is. */
static bool
fatal(enum fetch_result r)
{
	return r == FETCH_LOCAL || r == FETCH_DISK_FULL || r == FETCH_TOO_BIG ||
	    r == FETCH_BAD_CONTENT;
}

struct xfer *
xfer_helper_end(struct xfer *h)
{
	struct xfer *lead = h->lead;

	if (h->hop.outcome == FETCH_OK && xfer_flush(h) < 0)
		xfer_write_failed(h, lead->part);
	if (fatal(h->hop.outcome))
		xfer_fail(lead, h->hop.outcome, "%s", h->why);
	else if (h->hop.outcome != FETCH_OK) {
		(void)xfer_flush(h);		/* what arrived is good */
		lead->splittable = false;	/* ranges go badly here: no more */
	}
	if (h->rng >= 0)
		lead->owner[h->rng] = NULL;
	if (h->easy != NULL) {
		curl_multi_remove_handle(h->ctx->multi, h->easy);
		curl_easy_cleanup(h->easy);
	}
	curl_slist_free_all(h->hdrs);
	free(h->url);
	free(h->wbuf);
	memset(h, 0, sizeof *h);
	h->fd = -1;
	h->rng = -1;
	return lead;
}

void
xfer_end_helpers(struct xfer *lead)
{
	struct fetch_ctx *c = lead->ctx;

	for (size_t i = 0; i < c->nslots; i++)
		if (c->xs[i].job != NULL && c->xs[i].lead == lead)
			(void)xfer_helper_end(&c->xs[i]);
}
