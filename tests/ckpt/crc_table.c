/*
 * crc_table.c -- built by tests/unit/test_checkpoint.c while it runs:
 * runtime/src/checkpoint.c with the CPU feature test answering "no", so
 * that pspf_crc32c() takes its table (slicing-by-8) path even on a CPU
 * with SSE4.2. The test binary itself links the runtime as it is (the
 * hardware path on such a CPU) and compares both with a bitwise CRC-32C.
 *
 * Usage: crc_table FILE. FILE holds buffers, each as a 4-byte length, a
 * 4-byte split point (at most the length) and the bytes, little-endian.
 * For each buffer it prints one line: the CRC-32C of the bytes in one
 * call, and the CRC-32C of the first [split] bytes continued over the
 * rest, both as 8 hex digits. Buffers are read into storage at an odd
 * address, so that the unaligned paths run too.
 */
#define __builtin_cpu_supports(feature) 0

#include "checkpoint.c"

int main(int argc, char **argv);

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: crc_table FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  if (!f) {
    perror(argv[1]);
    return 2;
  }
  unsigned char *store = NULL;
  size_t cap = 0;
  uint32_t hdr[2];
  while (fread(hdr, 4, 2, f) == 2) {
    uint32_t n = hdr[0], split = hdr[1];
    if (split > n)
      return 2;
    if (n + 8 > cap) {
      cap = n + 8;
      store = realloc(store, cap);
      if (!store)
        return 2;
    }
    unsigned char *p = store + 1 + (n & 3);
    if (n && fread(p, 1, n, f) != n)
      return 2;
    uint32_t whole = pspf_crc32c(0, p, n);
    uint32_t parts = pspf_crc32c(pspf_crc32c(0, p, split), p + split, n - split);
    printf("%08x %08x\n", (unsigned)whole, (unsigned)parts);
  }
  free(store);
  fclose(f);
  return 0;
}
