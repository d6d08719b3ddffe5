#include "progress.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define REDRAW_NS	250000000LL	/* four redraws a second at most */

struct slot {
	const char	*name;		/* borrowed; NULL: not on display */
	long long	 done, total;
	long long	 first;		/* bytes at the first report */
	long long	 started;	/* ns, at the first report */
};

struct progress {
	struct slot	*slots;
	size_t		 nslots;
	int		 drawn;		/* lines of the live display on screen */
	long long	 last;		/* ns of the last redraw */
};

static long long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

char *
progress_bytes(char *buf, size_t len, long long n)
{
	static const char *const unit[] = { "kB", "MB", "GB", "TB" };
	double v = (double)n;
	int u = -1;

	if (n < 1000) {
		snprintf(buf, len, "%lld bytes", n);
		return buf;
	}
	while (v >= 1000 && u < 3)
		v /= 1000, u++;
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

struct progress *
progress_new(size_t nslots)
{
	struct progress *p = calloc(1, sizeof *p);

	if (p == NULL)
		return NULL;
	if ((p->slots = calloc(nslots ? nslots : 1, sizeof *p->slots)) == NULL) {
		free(p);
		return NULL;
	}
	p->nslots = nslots;
	return p;
}

/* Moves the cursor to the top of the live display and clears it. */
static void
erase(struct progress *p)
{
	if (p->drawn > 0)
		fprintf(stderr, "\r\033[%dA", p->drawn);
	fputs("\r\033[J", stderr);
	p->drawn = 0;
}

static void
draw_slot(const struct slot *s, long long now)
{
	char name[48], got[16], all[16], rate[16], eta[48] = "";
	double secs = (double)(now - s->started) / 1e9;
	double bps = secs > 0.5 ? (double)(s->done - s->first) / secs : 0;

	log_escape(name, sizeof name, s->name, strlen(s->name));
	progress_bytes(got, sizeof got, s->done);
	if (s->total >= 0)
		progress_bytes(all, sizeof all, s->total);
	else
		snprintf(all, sizeof all, "?");
	progress_bytes(rate, sizeof rate, (long long)bps);
	if (bps >= 1 && s->total > s->done) {
		long long left = (long long)((double)(s->total - s->done) / bps);

		snprintf(eta, sizeof eta, "  %lld:%02lld left", left / 60, left % 60);
	}
	fprintf(stderr, "%-32s %10s / %-10s %10s/s%s\n", name, got, all, rate, eta);
}

static void
redraw(struct progress *p, long long now)
{
	erase(p);
	for (size_t i = 0; i < p->nslots; i++) {
		if (p->slots[i].name == NULL)
			continue;
		draw_slot(&p->slots[i], now);
		p->drawn++;
	}
	fflush(stderr);
	p->last = now;
}

void
progress_set(struct progress *p, size_t slot, const char *name,
    long long done, long long total)
{
	long long now = now_ns();
	struct slot *s;

	if (p == NULL || slot >= p->nslots)
		return;
	s = &p->slots[slot];
	if (s->name == NULL) {
		s->first = done;
		s->started = now;
	}
	s->name = name;
	s->done = done;
	s->total = total;
	if (now - p->last >= REDRAW_NS)
		redraw(p, now);
}

void
progress_end(struct progress *p, size_t slot, const char *line)
{
	if (p == NULL || slot >= p->nslots)
		return;
	p->slots[slot].name = NULL;
	erase(p);
	fprintf(stderr, "%s\n", line);
	redraw(p, now_ns());
}

void
progress_free(struct progress *p)
{
	if (p == NULL)
		return;
	erase(p);
	fflush(stderr);
	free(p->slots);
	free(p);
}
