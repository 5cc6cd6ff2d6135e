/* fuzz_jsonl.c — the JSON Lines reader: see fuzz_reader.h. */
#define FUZZ_FORMAT TESS_FORMAT_JSONL
#include "fuzz_reader.h"
