/*
 * bounds: hard limits that more than one module relies on, defined once.
 */
#ifndef VEO_BOUNDS_H
#define VEO_BOUNDS_H

/*
 * The largest callback body max_body may allow.  The spool entry reader
 * (entry.h, ENTRY_MAX) and the spooler's state files are sized for it.
 */
#define CALLBACK_BODY_MAX (16 << 20)

#endif
