/*
 * null-responder: the baseline of bench/responder.sh.  A libfcgi responder
 * that does no work: accept, read the whole body, answer the same 200 JSON
 * as veo-callback.  What veo-callback costs is measured against this.
 *
 *   cc -O2 -o null-responder null-responder.c -lfcgi
 */
#include <string.h>

#include <fcgiapp.h>

int
main(void)
{
	static const char reply[] =
	    "Status: 200 OK\r\n"
	    "Content-Type: application/json\r\n"
	    "Content-Length: 29\r\n"
	    "\r\n"
	    "{\"code\":200,\"msg\":\"success\"}\n";
	static char buf[65536];
	FCGX_Request rq;

	if (FCGX_Init() != 0 || FCGX_InitRequest(&rq, 0, 0) != 0)
		return 1;
	while (FCGX_Accept_r(&rq) >= 0) {
		while (FCGX_GetStr(buf, sizeof buf, rq.in) > 0)
			;
		FCGX_PutStr(reply, (int)strlen(reply), rq.out);
		FCGX_Finish_r(&rq);
	}
	return 0;
}
