/*
 * The access log's per-entry work for a whole batch in one call: the checks of
 * ``entries.plainly_valid``, the canonical JSON of ``entries.canonical_json`` (byte for
 * byte), the frames, the RFC 6962 leaf hashes and the subject keys; and the interior
 * node hashes of ``merkle.MerkleTree._build``.
 *
 * ``prepare`` answers None whenever it has any doubt about an entry: the Python path
 * then checks the batch again and names the fault, so this file never decides what is
 * refused, only how fast the plainly valid is written. Checks and JSON are done with
 * the GIL held, into buffers owned by this call; the hashing runs on those buffers
 * with the GIL released.
 *
 * SHA-256 and BLAKE2b-512 come from OpenSSL's libcrypto (fetched once), CRC-32 from zlib.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#ifdef Py_T_OBJECT_EX
#define MEMBER_OBJECT_EX Py_T_OBJECT_EX
#else
#define MEMBER_OBJECT_EX T_OBJECT_EX
#endif

#define HASH_SIZE 32
#define KEY_SIZE 8
#define FRAME_HEAD 8
#define TIME_DIGITS_MAX 20
#define NOGIL_PAIRS_MIN 16 /* fewer node hashes than this are not worth releasing the GIL */

/* The slots of AccessEntry in the order of the canonical JSON (sorted keys). */
enum { AGENCY, FIELDS, OUTCOME, PRINCIPAL, PURPOSE, ROLE, SUBJECT, TIME_NS, N_SLOTS };
static const char *const slot_names[N_SLOTS] = {"agency", "fields", "outcome", "principal",
                                                "purpose", "role", "subject", "time_ns"};
static const char *const slot_keys[N_SLOTS] = {"{\"agency\":", ",\"fields\":[", "],\"outcome\":", ",\"principal\":",
                                               ",\"purpose\":", ",\"role\":", ",\"subject\":", ",\"time_ns\":"};

static size_t slot_key_lens[N_SLOTS];

/* Set by configure(): the entry type, where each slot lies in an instance, the limits. */
static PyTypeObject *entry_type = NULL;
static Py_ssize_t slot_offsets[N_SLOTS];
static Py_ssize_t text_max = 0, fields_max = 0;

static EVP_MD *sha256_md = NULL, *blake2b_md = NULL;

/* ---- canonical JSON: json.encoder.encode_basestring_ascii, as Modules/_json.c writes it ---- */

static const char hexdigits[] = "0123456789abcdef";

/* 1 where a byte of ASCII text is written as itself (S_CHAR in _json.c). */
static unsigned char plain[128];

static void init_tables(void) {
    for (int c = 0; c < 128; c++) plain[c] = c >= ' ' && c <= '~' && c != '\\' && c != '"';
    for (int k = 0; k < N_SLOTS; k++) slot_key_lens[k] = strlen(slot_keys[k]);
}

static char *put_u4(char *p, Py_UCS4 c) {
    *p++ = '\\';
    *p++ = 'u';
    *p++ = hexdigits[(c >> 12) & 0xf];
    *p++ = hexdigits[(c >> 8) & 0xf];
    *p++ = hexdigits[(c >> 4) & 0xf];
    *p++ = hexdigits[c & 0xf];
    return p;
}

/* ascii_escape_unichar: at most 12 bytes. */
static char *escape(char *p, Py_UCS4 c) {
    switch (c) {
    case '\\': *p++ = '\\'; *p++ = '\\'; return p;
    case '"': *p++ = '\\'; *p++ = '"'; return p;
    case '\b': *p++ = '\\'; *p++ = 'b'; return p;
    case '\f': *p++ = '\\'; *p++ = 'f'; return p;
    case '\n': *p++ = '\\'; *p++ = 'n'; return p;
    case '\r': *p++ = '\\'; *p++ = 'r'; return p;
    case '\t': *p++ = '\\'; *p++ = 't'; return p;
    default:
        if (c >= 0x10000) {
            Py_UCS4 v = c - 0x10000;
            p = put_u4(p, 0xd800 | ((v >> 10) & 0x3ff));
            return put_u4(p, 0xdc00 | (v & 0x3ff));
        }
        return put_u4(p, c);
    }
}

/* The JSON string of ``s`` with its quotes; room for 2 + 12 * len bytes must be there. */
static char *put_text(char *p, PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    *p++ = '"';
    if (PyUnicode_IS_ASCII(s)) {
        const unsigned char *a = data;
        for (Py_ssize_t i = 0; i < n; i++) {
            unsigned char c = a[i];
            if (plain[c]) *p++ = (char)c;
            else p = escape(p, c);
        }
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c < 128 && plain[c]) *p++ = (char)c;
            else p = escape(p, c);
        }
    }
    *p++ = '"';
    return p;
}

/* The decimal digits of t (int(t) in Python). */
static char *put_decimal(char *p, unsigned long long t) {
    char digits[TIME_DIGITS_MAX];
    int n = 0;
    do {
        digits[n++] = (char)('0' + t % 10);
        t /= 10;
    } while (t);
    while (n) *p++ = digits[--n];
    return p;
}

/* UTF-8 with surrogatepass (a lone surrogate is written as its 3 bytes); room for 4 * len. */
static char *put_utf8(char *p, PyObject *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const void *data = PyUnicode_DATA(s);
    if (PyUnicode_IS_ASCII(s)) {
        memcpy(p, data, (size_t)n);
        return p + n;
    }
    int kind = PyUnicode_KIND(s);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c < 0x80) {
            *p++ = (char)c;
        } else if (c < 0x800) {
            *p++ = (char)(0xc0 | (c >> 6));
            *p++ = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *p++ = (char)(0xe0 | (c >> 12));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3f));
            *p++ = (char)(0x80 | (c & 0x3f));
        } else {
            *p++ = (char)(0xf0 | (c >> 18));
            *p++ = (char)(0x80 | ((c >> 12) & 0x3f));
            *p++ = (char)(0x80 | ((c >> 6) & 0x3f));
            *p++ = (char)(0x80 | (c & 0x3f));
        }
    }
    return p;
}

/* ---- checks, as plainly_valid makes them ---- */

/* Exactly str, 1..text_max characters, not all whitespace (str.isspace). */
static int good_text(PyObject *s) {
    if (!PyUnicode_CheckExact(s)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    if (n < 1 || n > text_max) return 0;
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) return 1;
    return 0;
}

/* Exactly str, 1..text_max characters (field names may be blank). */
static int good_name(PyObject *s) {
    if (!PyUnicode_CheckExact(s)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    return n >= 1 && n <= text_max;
}

/* ---- a growable byte buffer ---- */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static int reserve(buf_t *b, size_t more) {
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *data = PyMem_RawRealloc(b->data, cap);
    if (data == NULL) return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

/* ---- hashing ---- */

typedef struct {
    size_t json, json_len; /* where the JSON lies in the frames buffer (its header is before it) */
    size_t subject, subject_len; /* where the subject's UTF-8 lies in the subjects buffer */
} span_t;

/* A context that has absorbed ``prefix`` (if any), to be copied for each message: copying
 * costs less than initialising, for BLAKE2b about half. NULL if OpenSSL fails. */
static EVP_MD_CTX *started(const EVP_MD *md, const unsigned char *prefix, size_t prefix_len) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx != NULL && EVP_DigestInit_ex2(ctx, md, NULL) && EVP_DigestUpdate(ctx, prefix, prefix_len)) return ctx;
    EVP_MD_CTX_free(ctx);
    return NULL;
}

/* digest(start || data) into out. */
static int finish(EVP_MD_CTX *ctx, const EVP_MD_CTX *start, const void *data, size_t len, unsigned char *out) {
    return EVP_MD_CTX_copy_ex(ctx, start) && EVP_DigestUpdate(ctx, data, len) && EVP_DigestFinal_ex(ctx, out, NULL);
}

static const unsigned char leaf_prefix = 0x00, node_prefix = 0x01;

/* Fills the frame headers, leaf hashes and subject keys; 0 on success. No Python calls. */
static int hash_entries(Py_ssize_t n, const span_t *spans, char *frames, const char *subjects,
                        unsigned char *leaves, unsigned char *keys) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *sha = EVP_MD_CTX_new(), *blake = EVP_MD_CTX_new();
    EVP_MD_CTX *sha_start = started(sha256_md, &leaf_prefix, 1), *blake_start = started(blake2b_md, NULL, 0);
    int ok = sha && blake && sha_start && blake_start;
    for (Py_ssize_t i = 0; ok && i < n; i++) {
        const span_t *s = &spans[i];
        unsigned char *json = (unsigned char *)frames + s->json, *head = json - FRAME_HEAD;
        uint32_t size = (uint32_t)s->json_len, crc = (uint32_t)crc32(0L, json, (uInt)s->json_len);
        for (int b = 0; b < 4; b++) {
            head[b] = (unsigned char)(size >> (8 * b));
            head[4 + b] = (unsigned char)(crc >> (8 * b));
        }
        ok = finish(sha, sha_start, json, s->json_len, leaves + HASH_SIZE * i) &&
             finish(blake, blake_start, subjects + s->subject, s->subject_len, digest);
        memcpy(keys + KEY_SIZE * i, digest, KEY_SIZE);
    }
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(blake);
    EVP_MD_CTX_free(sha_start);
    EVP_MD_CTX_free(blake_start);
    return ok ? 0 : -1;
}

/* SHA-256(0x01 || left || right) for each 64-byte pair; 0 on success. No Python calls. */
static int hash_pair_run(const unsigned char *level, size_t pairs, unsigned char *out) {
    EVP_MD_CTX *sha = EVP_MD_CTX_new(), *sha_start = started(sha256_md, &node_prefix, 1);
    int ok = sha && sha_start;
    for (size_t i = 0; ok && i < pairs; i++)
        ok = finish(sha, sha_start, level + 2 * HASH_SIZE * i, 2 * HASH_SIZE, out + HASH_SIZE * i);
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(sha_start);
    return ok ? 0 : -1;
}

/* ---- the module's functions ---- */

static PyObject *configure(PyObject *self, PyObject *args) {
    PyTypeObject *type;
    Py_ssize_t tmax, fmax;
    if (!PyArg_ParseTuple(args, "O!nn:configure", &PyType_Type, &type, &tmax, &fmax)) return NULL;
    if (tmax < 1 || fmax < 0) {
        PyErr_SetString(PyExc_ValueError, "limits must be positive");
        return NULL;
    }
    Py_ssize_t offsets[N_SLOTS];
    for (int k = 0; k < N_SLOTS; k++) {
        /* A slot of a __slots__ class is a member descriptor in the class's own dict. */
        PyObject *descr = PyDict_GetItemString(type->tp_dict, slot_names[k]);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)descr)->d_member->type != MEMBER_OBJECT_EX) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", type->tp_name, slot_names[k]);
            return NULL;
        }
        offsets[k] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    Py_INCREF(type);
    Py_XSETREF(entry_type, type);
    memcpy(slot_offsets, offsets, sizeof offsets);
    text_max = tmax;
    fields_max = fmax;
    Py_RETURN_NONE;
}

#define SLOT(entry, k) (*(PyObject **)((char *)(entry) + slot_offsets[k]))

static PyObject *prepare(PyObject *self, PyObject *arg) {
    if (entry_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(arg, "entries must be a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    PyObject *result = NULL, *frames = NULL, *leaves = NULL, *keys = NULL, *sizes = NULL;
    buf_t json = {0}, subj = {0};
    span_t *spans = PyMem_RawMalloc(sizeof(span_t) * (size_t)(n ? n : 1));
    if (spans == NULL) {
        PyErr_NoMemory();
        goto done;
    }

    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *e = items[i];
        if (!Py_IS_TYPE(e, entry_type)) goto doubt;
        PyObject *slot[N_SLOTS];
        for (int k = 0; k < N_SLOTS; k++)
            if ((slot[k] = SLOT(e, k)) == NULL) goto doubt;
        /* time_ns: exactly int, 0 <= t < 2**63 */
        if (!PyLong_CheckExact(slot[TIME_NS])) goto doubt;
        int overflow;
        long long t = PyLong_AsLongLongAndOverflow(slot[TIME_NS], &overflow);
        if (overflow || t < 0) goto doubt;
        /* texts, and the room their JSON can take at worst */
        size_t room = FRAME_HEAD + TIME_DIGITS_MAX;
        for (int k = 0; k < N_SLOTS; k++) {
            room += slot_key_lens[k];
            if (k == FIELDS || k == TIME_NS) continue;
            if (!good_text(slot[k])) goto doubt;
            room += 2 + 12 * (size_t)PyUnicode_GET_LENGTH(slot[k]);
        }
        /* fields: exactly a tuple of at most fields_max names */
        PyObject *fields = slot[FIELDS];
        if (!PyTuple_CheckExact(fields)) goto doubt;
        Py_ssize_t nf = PyTuple_GET_SIZE(fields);
        if (nf > fields_max) goto doubt;
        for (Py_ssize_t j = 0; j < nf; j++) {
            PyObject *name = PyTuple_GET_ITEM(fields, j);
            if (!good_name(name)) goto doubt;
            room += 3 + 12 * (size_t)PyUnicode_GET_LENGTH(name);
        }
        size_t subject_room = 4 * (size_t)PyUnicode_GET_LENGTH(slot[SUBJECT]);
        if (reserve(&json, room) < 0 || reserve(&subj, subject_room) < 0) {
            PyErr_NoMemory();
            goto done;
        }

        char *start = json.data + json.len + FRAME_HEAD, *p = start;
        for (int k = 0; k < N_SLOTS; k++) {
            memcpy(p, slot_keys[k], slot_key_lens[k]);
            p += slot_key_lens[k];
            if (k == FIELDS) {
                for (Py_ssize_t j = 0; j < nf; j++) {
                    if (j) *p++ = ',';
                    p = put_text(p, PyTuple_GET_ITEM(fields, j));
                }
            } else if (k == TIME_NS) {
                p = put_decimal(p, (unsigned long long)t);
            } else {
                p = put_text(p, slot[k]);
            }
        }
        *p++ = '}';
        spans[i].json = json.len + FRAME_HEAD;
        spans[i].json_len = (size_t)(p - start);
        json.len = (size_t)(p - json.data);
        spans[i].subject = subj.len;
        spans[i].subject_len = (size_t)(put_utf8(subj.data + subj.len, slot[SUBJECT]) - (subj.data + subj.len));
        subj.len += spans[i].subject_len;
    }

    frames = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)json.len);
    leaves = PyBytes_FromStringAndSize(NULL, HASH_SIZE * n);
    keys = PyBytes_FromStringAndSize(NULL, KEY_SIZE * n);
    sizes = PyList_New(n);
    if (frames == NULL || leaves == NULL || keys == NULL || sizes == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *size = PyLong_FromSize_t(FRAME_HEAD + spans[i].json_len);
        if (size == NULL) goto done;
        PyList_SET_ITEM(sizes, i, size);
    }
    int failed;
    Py_BEGIN_ALLOW_THREADS
    failed = hash_entries(n, spans, json.data, subj.data, (unsigned char *)PyBytes_AS_STRING(leaves),
                          (unsigned char *)PyBytes_AS_STRING(keys));
    if (!failed && json.len) memcpy(PyBytes_AS_STRING(frames), json.data, json.len);
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to hash");
        goto done;
    }
    result = PyTuple_Pack(4, frames, leaves, keys, sizes);
    goto done;

doubt:
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(seq);
    Py_XDECREF(frames);
    Py_XDECREF(leaves);
    Py_XDECREF(keys);
    Py_XDECREF(sizes);
    PyMem_RawFree(json.data);
    PyMem_RawFree(subj.data);
    PyMem_RawFree(spans);
    return result;
}

static PyObject *hash_pairs(PyObject *self, PyObject *arg) {
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = NULL;
    if (view.len % (2 * HASH_SIZE)) {
        PyErr_Format(PyExc_ValueError, "level must be a multiple of %d bytes long", 2 * HASH_SIZE);
        goto done;
    }
    size_t pairs = (size_t)view.len / (2 * HASH_SIZE);
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(pairs * HASH_SIZE));
    if (out == NULL) goto done;
    int failed;
    unsigned char *dst = (unsigned char *)PyBytes_AS_STRING(out);
    if (pairs < NOGIL_PAIRS_MIN) {
        failed = hash_pair_run(view.buf, pairs, dst);
    } else {
        /* The buffer stays exported, so a bytearray under it cannot be resized meanwhile. */
        Py_BEGIN_ALLOW_THREADS
        failed = hash_pair_run(view.buf, pairs, dst);
        Py_END_ALLOW_THREADS
    }
    if (failed) {
        PyErr_SetString(PyExc_RuntimeError, "OpenSSL failed to hash");
        Py_CLEAR(out);
    }
done:
    PyBuffer_Release(&view);
    return out;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(entry_type, text_max, fields_max): the entry class whose slots prepare() reads, and the limits."},
    {"prepare", prepare, METH_O,
     "prepare(entries) -> (frames, leaves, keys, sizes), or None when any entry is not plainly valid."},
    {"hash_pairs", hash_pairs, METH_O, "hash_pairs(level) -> SHA-256(0x01 || left || right) of each 64-byte pair."},
    {NULL, NULL, 0, NULL},
};

static void free_module(void *module) {
    EVP_MD_free(sha256_md);
    EVP_MD_free(blake2b_md);
    sha256_md = blake2b_md = NULL;
    Py_CLEAR(entry_type);
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_prepare", "The access log's per-entry and per-node work, in C.", -1, methods,
    NULL, NULL, NULL, free_module,
};

PyMODINIT_FUNC PyInit__prepare(void) {
    init_tables();
    if (sha256_md == NULL) sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (blake2b_md == NULL) blake2b_md = EVP_MD_fetch(NULL, "BLAKE2B-512", NULL);
    if (sha256_md == NULL || blake2b_md == NULL) {
        PyErr_SetString(PyExc_ImportError, "OpenSSL offers no SHA-256 or BLAKE2b-512");
        return NULL;
    }
    return PyModule_Create(&module);
}
