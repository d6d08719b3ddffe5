/*
 * media: what kind of file a URL is expected to hold, from its extension;
 * the downloader sniffs the first bytes against it (sniff.h).
 */
#ifndef VEO_MEDIA_H
#define VEO_MEDIA_H

enum media_kind {
	MEDIA_VIDEO,		/* mp4/mov (ISO BMFF "ftyp" etc.), webm/mkv (EBML) */
	MEDIA_IMAGE,		/* jpeg, png, gif, webp */
	MEDIA_ANY,		/* no sniffing */
};

#endif
