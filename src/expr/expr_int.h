/* expr_int.h — internals shared by the files of src/expr; nothing outside src/expr includes it.
 *
 * The pipeline, one file per stage:
 *   lex.c      source bytes -> tokens (literals decoded, keywords recognised)
 *   parse.c    tokens -> syntax tree (nodes in a compile-time arena), precedence, depth limits
 *   check.c    names -> variables, types, null adoption, int->float promotion, the function table
 *   compile.c  tree -> register bytecode with constant folding; tess__expr_compile and accessors
 *   conv.c     scalar conversions (string <-> number, float formatting) in the C locale
 *   vm.c       the vector kernels and the interpreter; tess__expr_eval and tess__expr_eval_batch
 */
#ifndef TESS_EXPR_EXPR_INT_H
#define TESS_EXPR_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/value.h"
#include "expr/expr.h"

#define TESS__EXPR_MAX_SRC 65536 /* bytes of source */
#define TESS__EXPR_MAX_DEPTH 256 /* nesting of parentheses, calls, unary operators; tree height */
#define TESS__EXPR_CHUNK 1024    /* rows per vector */
#define TESS__EXPR_NOREG 0xFFFF

/* ---- errors ------------------------------------------------------------------------------ */

/* Where compile-time errors go. */
typedef struct tess__expr_diag {
    tess__err *err;
    int *err_col;
} tess__expr_diag;

/* Sets the message and the column (1-based); returns rc. */
int tess__expr_fail(tess__expr_diag *d, int rc, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- tokens (lex.c) ------------------------------------------------------------------------ */

typedef enum tess__expr_tk {
    TK_END = 0,
    TK_INT,
    TK_FLOAT,
    TK_STRING,
    TK_IDENT,
    TK_TRUE,
    TK_FALSE,
    TK_NULL,
    TK_AND,
    TK_OR,
    TK_NOT,
    TK_LPAREN,
    TK_RPAREN,
    TK_COMMA,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_PERCENT,
    TK_EQ, /* = and == */
    TK_NE, /* != and <> */
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
} tess__expr_tk;

typedef struct tess__expr_tok {
    tess__expr_tk kind;
    size_t pos;     /* byte offset in the source */
    size_t len;     /* bytes in the source */
    uint64_t ival;  /* TK_INT: the value, at most 2^63 (2^63 only valid after a unary minus) */
    double fval;    /* TK_FLOAT */
    tess__str sval; /* TK_STRING: the decoded bytes, in the lexer's arena */
} tess__expr_tok;

typedef struct tess__expr_lexer {
    const char *src;
    size_t n;
    size_t pos;
    tess__arena *arena;
    tess__expr_diag *diag;
} tess__expr_lexer;

/* Reads the next token into *t. Returns TESS_OK, TESS_EPARSE or TESS_ENOMEM (diag set). */
int tess__expr_lex(tess__expr_lexer *lx, tess__expr_tok *t);

/* ---- syntax tree (parse.c, check.c) -------------------------------------------------------- */

typedef enum tess__expr_nk {
    N_LIT,  /* lit (type TESS_T_NULL for a bare null) */
    N_NAME, /* an unresolved name (parser output) */
    N_VAR,  /* var (checker output) */
    N_NEG,  /* -args[0] */
    N_NOT,  /* not args[0] */
    N_BIN,  /* args[0] op args[1], op a TK_* */
    N_CALL, /* fn(args...); for cast, `to` is the target type */
    N_CONV, /* int64 -> float64 promotion of args[0], inserted by the checker */
} tess__expr_nk;

typedef enum tess__expr_fn {
    FN_IF,
    FN_COALESCE,
    FN_IS_NULL,
    FN_ABS,
    FN_LOG,
    FN_EXP,
    FN_SQRT,
    FN_POW,
    FN_FLOOR,
    FN_CEIL,
    FN_ROUND,
    FN_MIN,
    FN_MAX,
    FN_LOWER,
    FN_UPPER,
    FN_LENGTH,
    FN_CONCAT,
    FN_SUBSTR,
    FN_HOUR,
    FN_DAY_OF_WEEK,
    FN_CAST,
    FN__COUNT
} tess__expr_fn;

typedef struct tess__expr_node tess__expr_node;
struct tess__expr_node {
    tess__expr_nk kind;
    int op;           /* N_BIN: a tess__expr_tk; N_CALL: a tess__expr_fn */
    tess__type type;  /* set by the checker */
    int col;          /* column of the significant token: operator, name, literal */
    int start;        /* column of the node's first token */
    int height;       /* 1 for a leaf */
    tess__value lit;  /* N_LIT; string bytes live in the compile arena */
    int var;          /* N_VAR */
    tess__type to;    /* N_CALL cast: target type */
    int to_col;       /* N_CALL cast: column of the type name */
    const char *name; /* N_NAME, N_CALL: the name as written (not NUL-terminated) */
    size_t name_len;
    int nargs;
    tess__expr_node **args;
};

/* Parses src[0..n) into a tree allocated from `arena`. Returns TESS_OK, TESS_EPARSE or
 * TESS_ENOMEM (diag set). */
int tess__expr_parse(const char *src, size_t n, tess__arena *arena, tess__expr_diag *diag,
                     tess__expr_node **out);

/* Resolves names, computes types, inserts promotions and typed nulls. On success every node
 * reachable from the root has a type and only the root may be TESS_T_NULL-typed (which the
 * caller rejects). Returns TESS_OK, TESS_ETYPE or TESS_ENOMEM. */
int tess__expr_check(tess__expr_node *root, const tess__expr_var *vars, size_t nvars,
                     tess__arena *arena, tess__expr_diag *diag);


/* Case-insensitive comparison of a byte string with a NUL-terminated lowercase word. */
bool tess__expr_word_eq(const char *s, size_t n, const char *word);

/* ---- bytecode (compile.c, vm.c) ------------------------------------------------------------ */

typedef enum tess__expr_op {
    OP_LOAD,  /* dst = input column of variable refs[k] */
    OP_CONST, /* dst = constant k, broadcast */
    /* int64 (and timestamp, the same bits); overflow -> null */
    OP_ADD_I,
    OP_SUB_I,
    OP_MUL_I,
    OP_MOD_I,
    OP_NEG_I,
    /* float64 */
    OP_ADD_F,
    OP_SUB_F,
    OP_MUL_F,
    OP_DIV_F,
    OP_MOD_F,
    OP_NEG_F,
    /* comparisons -> bool; I: int64/timestamp, F: float64 (NaN largest, NaN = NaN), S: bytes,
     * B: false < true */
    OP_EQ_I,
    OP_NE_I,
    OP_LT_I,
    OP_LE_I,
    OP_GT_I,
    OP_GE_I,
    OP_EQ_F,
    OP_NE_F,
    OP_LT_F,
    OP_LE_F,
    OP_GT_F,
    OP_GE_F,
    OP_EQ_S,
    OP_NE_S,
    OP_LT_S,
    OP_LE_S,
    OP_GT_S,
    OP_GE_S,
    OP_EQ_B,
    OP_NE_B,
    OP_LT_B,
    OP_LE_B,
    OP_GT_B,
    OP_GE_B,
    /* three-valued logic */
    OP_AND,
    OP_OR,
    OP_NOT,
    /* null handling, any element type (ins.t) */
    OP_IS_NULL,
    OP_COALESCE, /* dst = a if a is not null, else b */
    OP_IF,       /* dst = a if the bool c is true, else b */
    /* math */
    OP_ABS_I,
    OP_ABS_F,
    OP_LOG,
    OP_EXP,
    OP_SQRT,
    OP_POW,
    OP_FLOOR,
    OP_CEIL,
    OP_ROUND_F,  /* round(a) */
    OP_ROUND_FD, /* round(a, b) */
    OP_ROUND_ID, /* round(int a, b): unchanged for b >= 0, else to a multiple of 10^-b */
    OP_MIN_I,
    OP_MAX_I,
    OP_MIN_F,
    OP_MAX_F,
    OP_MIN_S,
    OP_MAX_S, /* skip nulls */
    /* strings and time */
    OP_LOWER,
    OP_UPPER,
    OP_LENGTH,
    OP_CONCAT,
    OP_SUBSTR, /* substr(a, b[, c]); c is NOREG when absent */
    OP_HOUR,
    OP_DOW,
    /* casts (int64 <-> timestamp is free and has no instruction) */
    OP_B2I,
    OP_B2F,
    OP_B2S,
    OP_I2B,
    OP_I2F,
    OP_I2S,
    OP_F2I,
    OP_F2S,
    OP_S2B,
    OP_S2I,
    OP_S2F,
    OP_S2T,
    OP_T2S,
    OP__COUNT
} tess__expr_op;

typedef struct tess__expr_ins {
    uint8_t op;       /* tess__expr_op */
    uint8_t t;        /* tess__type of the result */
    uint16_t dst;     /* register written */
    uint16_t a, b, c; /* registers read (NOREG when unused) */
    int32_t k;        /* OP_LOAD: position in refs; OP_CONST: constant index */
} tess__expr_ins;

struct tess__expr {
    tess__type type;
    size_t nvars;          /* as given to compile */
    tess__type *var_types; /* nvars: to check the types of the inputs */
    int *refs;             /* ascending */
    size_t nrefs;
    tess__expr_ins *code;
    size_t ncode;
    tess__value *consts; /* string bytes in strpool */
    size_t nconsts;
    char *strpool;
    uint16_t nregs;
    uint8_t *reg_size; /* largest element size each register holds */
    uint16_t result;   /* register holding the result */
};

/* A register: n values of one type and their null mask, for the current chunk. */
typedef struct tess__expr_reg {
    void *data;           /* `buf`, or a slice of an input column (OP_LOAD) */
    const uint8_t *nulls; /* NULL: no value is null; else `nbuf` or a slice of an input column */
    void *buf;            /* owned storage, TESS__EXPR_CHUNK (or fewer) elements */
    uint8_t *nbuf;        /* owned null mask */
} tess__expr_reg;

/* What an instruction may read besides registers. */
typedef struct tess__expr_ctx {
    const tess__col *cols; /* indexed like e->refs: OP_LOAD's k is a position in refs */
    size_t off;            /* first row of the current chunk */
    const tess__value *consts;
    tess__arena *arena; /* string results */
} tess__expr_ctx;

/* Runs one instruction over n rows. Returns TESS_OK or TESS_ENOMEM. */
int tess__expr_exec(const tess__expr_ins *in, tess__expr_reg *regs, size_t n,
                    const tess__expr_ctx *ctx);

/* Bytes per element of a type in a column or register. */
size_t tess__expr_elem_size(tess__type t);

/* Fills r's own storage with n copies of v (null or not) and points r at it. */
void tess__expr_fill(tess__expr_reg *r, const tess__value *v, size_t n);

/* Row i of a column or register as a value of type t. */
tess__value tess__expr_get(const void *data, const uint8_t *nulls, tess__type t, size_t i);

/* ---- scalar conversions (conv.c) ------------------------------------------------------------ */

/* Each returns true and sets *out on success, false if s is not a valid form. Leading and
 * trailing ASCII whitespace is ignored. */
bool tess__expr_parse_int(const char *s, size_t n, int64_t *out);
bool tess__expr_parse_float(const char *s, size_t n, double *out);
bool tess__expr_parse_bool(const char *s, size_t n, bool *out);
/* strtod in the C locale, for a NUL-terminated float literal already validated by the lexer. */
double tess__expr_strtod(const char *s);
/* The shortest of %.15g %.16g %.17g that reads back as x (C locale); "nan", "inf", "-inf".
 * buf >= 32; the text is NUL-terminated. Returns the length. Computed without printf. */
size_t tess__expr_format_float(double x, char *buf);

#endif
