/* fuzz_csv.c — the CSV reader: see fuzz_reader.h. */
#define FUZZ_FORMAT TESS_FORMAT_CSV
#include "fuzz_reader.h"
