/*
 * fuzz_planted.c — a libFuzzer target with a planted bug, for testing the
 * fuzzing harness itself (scripts/fuzz.sh), never for testing asylink:
 * ctest's fuzz.harness.catches-crash runs scripts/fuzz.sh on it and passes
 * only if the script FAILS, proving that a crash found while fuzzing fails
 * the CI step instead of being deleted with its scratch corpus.
 */
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 3 && data[0] == 'B' && data[1] == 'U' && data[2] == 'G')
        abort(); /* the planted crash */
    return 0;
}
