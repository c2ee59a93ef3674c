/*
 * pspf.h -- the public header of libpspf, the runtime library that
 * programs built by pspfc link against.
 *
 * This first part holds what every other runtime header builds on: the
 * version, the export macro and the error codes. Functions return 0 or a
 * negative PSPF_E* code (libuv style); pspf_strerror() names a code.
 */
#ifndef PSPF_H
#define PSPF_H

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a function exported from libpspf (built -fvisibility=hidden). */
#if defined(__GNUC__)
#define PSPF_EXTERN __attribute__((visibility("default")))
#else
#define PSPF_EXTERN
#endif

/* The runtime's version; pspfc and libpspf are released together. */
#define PSPF_VERSION_MAJOR 0
#define PSPF_VERSION_MINOR 1
#define PSPF_VERSION_PATCH 0

/* Error codes: X(name, message). Every code is negative. */
#define PSPF_ERRNO_MAP(X)                                                      \
  X(EINVAL, -22, "invalid argument")                                          \
  X(ENOMEM, -12, "out of memory")                                             \
  X(EIO, -5, "input/output error")                                            \
  X(EBADREC, -1001, "record does not parse into the declared type")           \
  X(EOVERFLOW, -1002, "integer overflow")                                     \
  X(EDIVZERO, -1003, "division by zero")                                      \
  X(ECORRUPT, -1004, "checkpoint is corrupt")

/* The PSPF_E* constants. */
enum pspf_errno {
#define PSPF__ERR(name, code, msg) PSPF_##name = (code),
  PSPF_ERRNO_MAP(PSPF__ERR)
#undef PSPF__ERR
};

/* Returns the version as a number: major * 10000 + minor * 100 + patch. */
PSPF_EXTERN unsigned pspf_version(void);

/* Returns the version as "X.Y.Z". The string is static; do not free it. */
PSPF_EXTERN const char *pspf_version_string(void);

/* Returns a static, human-readable message for [err], a PSPF_E* code, or
 * "unknown error" for any other value. */
PSPF_EXTERN const char *pspf_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* PSPF_H */
