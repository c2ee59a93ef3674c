/*
 * test_runtime.c -- libpspf's base: version and error names. The public
 * header must compile on its own.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "pspf/pspf.h"
#include "pspfc.h"

Test(runtime, version_agrees_with_the_compiler) {
  cr_assert_eq(pspf_version(), PSPF_VERSION_MAJOR * 10000 +
                                   PSPF_VERSION_MINOR * 100 +
                                   PSPF_VERSION_PATCH);
  cr_assert_str_eq(pspf_version_string(), PSPFC_VERSION);
}

Test(runtime, strerror) {
  cr_assert_str_eq(pspf_strerror(PSPF_EDIVZERO), "division by zero");
  cr_assert_str_eq(pspf_strerror(PSPF_EINVAL), "invalid argument");
  cr_assert_str_eq(pspf_strerror(12345), "unknown error");
}
