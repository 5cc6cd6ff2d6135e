/* suggest.c — edit distance for "did you mean" (suggest.h). */
#include "core/suggest.h"

int tess__edit_distance(const char *a, size_t an, const char *b, size_t bn, int cap, bool fold)
{
    enum { MAXN = TESS_EDIT_MAXLEN };
    if (an > MAXN || bn > MAXN) return cap + 1;
    if ((an > bn ? an - bn : bn - an) > (size_t)cap) return cap + 1;
    int rows[3][MAXN + 1];
    int *pp = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= bn; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= an; i++) {
        cur[0] = (int)i;
        int best = cur[0];
        for (size_t j = 1; j <= bn; j++) {
            char x = a[i - 1], y = b[j - 1];
            if (fold) {
                if (x >= 'A' && x <= 'Z') x = (char)(x - 'A' + 'a');
                if (y >= 'A' && y <= 'Z') y = (char)(y - 'A' + 'a');
            }
            int cost = x != y;
            int v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            if (prev[j - 1] + cost < v) v = prev[j - 1] + cost;
            if (i > 1 && j > 1) {
                char x1 = a[i - 2], y1 = b[j - 2];
                if (fold) {
                    if (x1 >= 'A' && x1 <= 'Z') x1 = (char)(x1 - 'A' + 'a');
                    if (y1 >= 'A' && y1 <= 'Z') y1 = (char)(y1 - 'A' + 'a');
                }
                if (x == y1 && x1 == y && pp[j - 2] + 1 < v) v = pp[j - 2] + 1;
            }
            cur[j] = v;
            if (v < best) best = v;
        }
        if (best > cap) return cap + 1;
        int *t = pp;
        pp = prev;
        prev = cur;
        cur = t;
    }
    return prev[bn] > cap ? cap + 1 : prev[bn];
}
