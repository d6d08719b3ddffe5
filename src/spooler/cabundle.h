/*
 * cabundle: where this machine keeps the CA certificates it trusts.
 *
 * libcurl's compiled-in CA paths are those of the distribution it was
 * built for.  The static veo-spooler (make static) runs on others, so the
 * store is looked up at run time among the places distributions use, the
 * first one present winning: a bundle file (Debian and Ubuntu, RHEL,
 * CloudLinux and Fedora, openSUSE, Alpine) and a directory of hashed
 * certificate links.  On Debian the result is what Debian's libcurl uses
 * by default, so the dynamic build behaves as before.
 *
 * libcurl takes one bundle file: with ca_file set, the system's CAs come
 * from the hashed directory alone, which RHEL and CloudLinux before 9 do
 * not have; there ca_file must hold every CA to trust.
 */
#ifndef VEO_CABUNDLE_H
#define VEO_CABUNDLE_H

#include <curl/curl.h>

/* The first readable CA bundle file of the known paths, or NULL.  Static. */
const char *cabundle_file(void);

/* The first existing certificate directory of the known paths, or NULL. */
const char *cabundle_dir(void);

/*
 * Sets CURLOPT_CAINFO and CURLOPT_CAPATH of e: ca_file when it is set (the
 * user's extra CAs; the system's directory still applies) and otherwise
 * the system's bundle file; the system's directory in both cases.  An
 * option with nothing found is left at libcurl's default.  Returns the
 * first error of curl_easy_setopt, CURLE_OK otherwise.
 */
CURLcode cabundle_setopt(CURL *e, const char *ca_file);

#endif
