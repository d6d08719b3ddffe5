#include "cabundle.h"

#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bundle files, in the order Go's crypto/x509 tries them on Linux. */
static const char *const bundle_files[] = {
	"/etc/ssl/certs/ca-certificates.crt",			/* Debian, Ubuntu, Gentoo, Arch */
	"/etc/pki/tls/certs/ca-bundle.crt",			/* RHEL, CloudLinux, Fedora */
	"/etc/ssl/ca-bundle.pem",				/* openSUSE */
	"/etc/pki/tls/cacert.pem",				/* OpenELEC */
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",	/* RHEL 7 and later */
	"/etc/ssl/cert.pem",					/* Alpine */
};

/*
 * Directories of certificates with OpenSSL's hash links.  RHEL's first:
 * there /etc/ssl/certs is a link to /etc/pki/tls/certs, which has none.
 */
static const char *const bundle_dirs[] = {
	"/etc/pki/ca-trust/extracted/pem/directory-hash",	/* RHEL 9, Fedora */
	"/etc/ssl/certs",					/* Debian, Alpine, SUSE */
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *
cabundle_file(void)
{
	struct stat st;

	for (size_t i = 0; i < NELEM(bundle_files); i++)
		if (stat(bundle_files[i], &st) == 0 && S_ISREG(st.st_mode) &&
		    access(bundle_files[i], R_OK) == 0)
			return bundle_files[i];
	return NULL;
}

const char *
cabundle_dir(void)
{
	struct stat st;

	for (size_t i = 0; i < NELEM(bundle_dirs); i++)
		if (stat(bundle_dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			return bundle_dirs[i];
	return NULL;
}

CURLcode
cabundle_setopt(CURL *e, const char *ca_file)
{
	const char *file = ca_file != NULL && ca_file[0] != '\0' ? ca_file : cabundle_file();
	const char *dir = cabundle_dir();
	CURLcode rc = CURLE_OK;

	if (file != NULL)
		rc = curl_easy_setopt(e, CURLOPT_CAINFO, file);
	if (rc == CURLE_OK && dir != NULL)
		rc = curl_easy_setopt(e, CURLOPT_CAPATH, dir);
	return rc;
}
