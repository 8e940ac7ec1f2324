// Fixed-type wrappers over libcurl's variadic calls, which Swift cannot call directly.
#ifndef CCURL_H
#define CCURL_H

#include <curl/curl.h>

/// Runs curl_global_init(CURL_GLOBAL_DEFAULT) exactly once per process, whichever thread gets here first;
/// every later call returns the CURLcode of that one call.
CURLcode ccurl_global_init_once(void);

/// The buffer size CURLOPT_ERRORBUFFER requires.
static inline long ccurl_error_size(void) { return CURL_ERROR_SIZE; }

/// libcurl's version as 0xXXYYZZ (major, minor, patch) of the library loaded at run time.
unsigned int ccurl_version_number(void);

/// Signature libcurl calls for CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
typedef size_t (*ccurl_data_callback)(char *data, size_t size, size_t count, void *userdata);

/// Signature libcurl calls for CURLOPT_XFERINFOFUNCTION; a non-zero return aborts the transfer.
typedef int (*ccurl_xferinfo_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                       curl_off_t ultotal, curl_off_t ulnow);

CURLcode ccurl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode ccurl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode ccurl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode ccurl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode ccurl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode ccurl_setopt_data_callback(CURL *handle, CURLoption option, ccurl_data_callback callback);

CURLcode ccurl_setopt_xferinfo_callback(CURL *handle, ccurl_xferinfo_callback callback);

CURLcode ccurl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode ccurl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);

#endif
