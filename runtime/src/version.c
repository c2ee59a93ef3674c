/*
 * version.c -- version and error-code names of libpspf (see pspf.h).
 */
#include "pspf/pspf.h"

#define PSPF__STR2(x) #x
#define PSPF__STR(x) PSPF__STR2(x)

unsigned pspf_version(void) {
  return PSPF_VERSION_MAJOR * 10000 + PSPF_VERSION_MINOR * 100 +
         PSPF_VERSION_PATCH;
}

const char *pspf_version_string(void) {
  return PSPF__STR(PSPF_VERSION_MAJOR) "." PSPF__STR(
      PSPF_VERSION_MINOR) "." PSPF__STR(PSPF_VERSION_PATCH);
}

const char *pspf_strerror(int err) {
  switch (err) {
#define PSPF__ERR(name, code, msg)                                             \
  case PSPF_##name:                                                            \
    return msg;
    PSPF_ERRNO_MAP(PSPF__ERR)
#undef PSPF__ERR
  }
  return "unknown error";
}
