/* suggest.h — edit distance for "did you mean" suggestions, shared by every module that names
 * things back to the user (definitions, expressions, CSV headers). */
#ifndef TESS_CORE_SUGGEST_H
#define TESS_CORE_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>

#define TESS_EDIT_MAXLEN 64 /* longer words are never close to anything */

/* Optimal string alignment distance (insertions, deletions, substitutions, transpositions of
 * adjacent characters) between a[0..an) and b[0..bn), ASCII-case-insensitive when `fold`.
 * Stops early: returns cap + 1 for anything above `cap`, and for words longer than
 * TESS_EDIT_MAXLEN. */
int tess__edit_distance(const char *a, size_t an, const char *b, size_t bn, int cap, bool fold);

#endif
