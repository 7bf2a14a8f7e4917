/*
 * The enforcement index's answer table: subject -> (closed domains, time window, answer).
 *
 * ``tessera.rules.check`` must answer a million times a second. In Python, a check on one
 * of a million restricted subjects was bound by memory: a dict lookup (its index, its
 * entry, the key's characters), then the per-domain list, the window's bounds and the
 * answer, each a separate object and, at random, a cache and TLB miss (~1.5 us in all).
 * Here one subject is one 64-byte slot holding its hash, up to 21 bytes of its key, the
 * domains it closes (a bit each), the window ``[lo, hi)`` in which the answer holds, and
 * the answer: a check is a hash, one slot read and the answer's reference count.
 *
 * The table caches what ``EnforcementIndex`` (enforcement.py) computes and stays its
 * source of truth: ``check`` returns None whenever it cannot answer alone (the clock is
 * outside the window, the domain is unknown, the subject is not a plain str, or the slot
 * says "ask Python"), and Python answers, refreshing the slot. Every call runs with the
 * GIL held, so a check sees a slot either before or after a ``put``, never half of one.
 *
 * Slots are found by Python's own str hash, SipHash-1-3 under the process's random key
 * (unless PYTHONHASHSEED pins it), so subjects cannot be chosen to pile up in one place.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#define INLINE_KEY 21          /* ASCII keys this long or shorter are compared in the slot */
#define DOMAINS_MAX 16         /* one bit each in a slot's mask */
#define CAPACITY_MIN 16
#define LOAD_PERCENT 60        /* grow past this share of slots used (live or deleted) */
#define SLOT_ALIGN 64          /* a slot is one cache line */
#define HUGE_PAGE (2u << 20)   /* a large table asks for huge pages: one TLB entry per 32k slots */

typedef struct {
    Py_hash_t hash;            /* 0: empty; 1: deleted (real hashes are mapped off 0 and 1) */
    PyObject *key;             /* a str, owned */
    PyObject *answer;          /* owned: returned while lo <= now < hi and the domain's bit is set */
    int64_t lo, hi;            /* lo > hi: never answer here, ask Python */
    uint16_t mask;             /* the domains this subject has any restriction in */
    uint8_t key_length;        /* the key's length if inline (ASCII, <= INLINE_KEY), else 0 */
    char key_inline[INLINE_KEY];
} slot_t;

_Static_assert(sizeof(slot_t) == SLOT_ALIGN, "a slot is one cache line");

typedef struct {
    PyObject_HEAD
    slot_t *slots;
    Py_ssize_t capacity;       /* a power of two */
    Py_ssize_t live, deleted;
    PyObject *domains;         /* a tuple of str: bit i is domains[i] */
    PyObject *allow;           /* returned where nothing closes the domain */
    PyObject *clock;           /* None: CLOCK_REALTIME in ns, as time.time_ns; else a callable */
} Table;

#define EMPTY 0
#define DELETED 1

static Py_hash_t slot_hash(Py_hash_t h) { return (h == EMPTY || h == DELETED) ? h + 2 : h; }

static int is_live(const slot_t *s) { return s->hash != EMPTY && s->hash != DELETED; }

/* Table.__new__ without __init__ leaves no slots, domains or answer: such a table refuses every call. */
static int initialised(Table *self) {
    if (self->slots) return 1;
    PyErr_SetString(PyExc_TypeError, "Table is not initialised: create it as Table(domains, allow, clock)");
    return 0;
}

/* The bit of a domain name, or -1 if it names none. */
static int domain_bit(Table *self, PyObject *domain) {
    Py_ssize_t n = PyTuple_GET_SIZE(self->domains);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyTuple_GET_ITEM(self->domains, i) == domain) return (int)i;
    }
    if (!PyUnicode_Check(domain)) return -1;  /* a str enum member (``Domain.payments``) is its characters */
    for (Py_ssize_t i = 0; i < n; i++) {
        if (PyUnicode_Compare(PyTuple_GET_ITEM(self->domains, i), domain) == 0) return (int)i;  /* both str: no error */
    }
    return -1;
}

static int inline_length(PyObject *key) {
    if (!PyUnicode_IS_COMPACT_ASCII(key)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    return (n > 0 && n <= INLINE_KEY) ? (int)n : 0;
}

static int slot_matches(const slot_t *s, Py_hash_t hash, PyObject *key, int length) {
    if (s->hash != hash) return 0;
    if (s->key == key) return 1;
    if (length && s->key_length) {
        return length == s->key_length && memcmp(s->key_inline, PyUnicode_DATA(key), (size_t)length) == 0;
    }
    return PyUnicode_Compare(s->key, key) == 0;  /* both exact str: never an error */
}

/* Zeroed slots, cache-line aligned; huge-page aligned and advised where the table is large. */
static slot_t *new_slots(Py_ssize_t capacity) {
    size_t bytes = (size_t)capacity * sizeof(slot_t);
    size_t align = bytes >= HUGE_PAGE ? HUGE_PAGE : SLOT_ALIGN;
    slot_t *slots = aligned_alloc(align, bytes);  /* bytes is a multiple of align: both powers of two */
    if (!slots) return NULL;
    memset(slots, 0, bytes);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (align == HUGE_PAGE) madvise(slots, bytes, MADV_HUGEPAGE);  /* advice only: fine if refused */
#endif
    return slots;
}

/* The slot holding ``key``, or the empty slot where it would go (never NULL: the table is never full). */
static slot_t *find(Table *self, PyObject *key, Py_hash_t hash, int length, slot_t **reusable) {
    size_t m = (size_t)self->capacity - 1;
    size_t i = (size_t)hash & m;
    if (reusable) *reusable = NULL;
    for (;;) {
        slot_t *s = &self->slots[i];
        if (s->hash == EMPTY) return s;
        if (s->hash == DELETED) {
            if (reusable && !*reusable) *reusable = s;
        } else if (slot_matches(s, hash, key, length)) {
            return s;
        }
        i = (i + 1) & m;
    }
}

static int resize(Table *self, Py_ssize_t capacity) {
    slot_t *fresh = new_slots(capacity);
    if (!fresh) {
        PyErr_NoMemory();
        return -1;
    }
    slot_t *old = self->slots;
    Py_ssize_t old_capacity = self->capacity;
    self->slots = fresh;
    self->capacity = capacity;
    self->deleted = 0;
    for (Py_ssize_t i = 0; i < old_capacity; i++) {
        if (is_live(&old[i])) {
            slot_t *to = find(self, old[i].key, old[i].hash, old[i].key_length, NULL);
            *to = old[i];
        }
    }
    free(old);
    return 0;
}

/* An int as int64, clamped at its ends; *failed if it is not an int. */
static int64_t clamped(PyObject *value, int *failed) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    *failed = (v == -1 && PyErr_Occurred());
    if (overflow) return overflow > 0 ? INT64_MAX : INT64_MIN;
    return (int64_t)v;
}

static int64_t now_ns(Table *self, int *failed) {
    *failed = 0;
    if (self->clock == Py_None) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    PyObject *value = PyObject_CallNoArgs(self->clock);
    if (!value) {
        *failed = 1;
        return 0;
    }
    int64_t now = clamped(value, failed);
    Py_DECREF(value);
    return now;
}

/* check(subject, domain) -> the answer, or None: Python must answer. */
static PyObject *table_check(Table *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "check(subject, domain)");
        return NULL;
    }
    if (!initialised(self)) return NULL;
    PyObject *subject = args[0];
    int bit = domain_bit(self, args[1]);
    if (bit < 0 || !PyUnicode_CheckExact(subject)) Py_RETURN_NONE;
    Py_hash_t hash = PyObject_Hash(subject);
    if (hash == -1) return NULL;
    slot_t *s = find(self, subject, slot_hash(hash), inline_length(subject), NULL);
    if (s->hash == EMPTY || !(s->mask & (1u << bit))) return Py_NewRef(self->allow);
    int64_t lo = s->lo, hi = s->hi;
    if (lo > hi) Py_RETURN_NONE;
    /* Held before the clock is read: a clock written in Python may change the table (and free s). */
    PyObject *answer = Py_NewRef(s->answer);
    int failed;
    int64_t now = now_ns(self, &failed);
    if (!failed && lo <= now && now < hi) return answer;
    Py_DECREF(answer);
    if (failed) return NULL;
    Py_RETURN_NONE;
}

/* put(subject, mask, lo, hi, answer): bounds past int64 are clamped (2**63 is "forever"). */
static PyObject *table_put(Table *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyUnicode_CheckExact(args[0]) || !PyLong_Check(args[1]) || !PyLong_Check(args[2]) ||
        !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "put(subject: str, mask: int, lo: int, hi: int, answer)");
        return NULL;
    }
    if (!initialised(self)) return NULL;
    PyObject *key = args[0];
    unsigned long long mask = PyLong_AsUnsignedLongLong(args[1]);
    if (mask == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (mask >> PyTuple_GET_SIZE(self->domains)) {
        PyErr_SetString(PyExc_ValueError, "mask has bits for no domain");
        return NULL;
    }
    int failed_lo, failed_hi;
    int64_t lo = clamped(args[2], &failed_lo);
    int64_t hi = clamped(args[3], &failed_hi);
    if (failed_lo || failed_hi) return NULL;
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) return NULL;
    hash = slot_hash(hash);
    if ((self->live + self->deleted + 1) * 100 > self->capacity * LOAD_PERCENT) {
        /* Double when live slots are the crowd (then at most LOAD_PERCENT / 2 after); else just drop the deleted. */
        Py_ssize_t capacity = self->capacity;
        if ((self->live + 1) * 100 > capacity * LOAD_PERCENT / 2) capacity *= 2;
        if (resize(self, capacity) < 0) return NULL;
    }
    int length = inline_length(key);
    slot_t *reusable;
    slot_t *s = find(self, key, hash, length, &reusable);
    PyObject *old_key = NULL, *old_answer = NULL;
    if (is_live(s)) {
        old_key = s->key;
        old_answer = s->answer;
    } else {
        if (reusable) {
            s = reusable;
            self->deleted--;
        }
        self->live++;
    }
    s->hash = hash;
    s->key = Py_NewRef(key);
    s->answer = Py_NewRef(args[4]);
    s->lo = lo;
    s->hi = hi;
    s->mask = (uint16_t)mask;
    s->key_length = (uint8_t)length;
    if (length) memcpy(s->key_inline, PyUnicode_DATA(key), (size_t)length);
    Py_XDECREF(old_key);  /* last: a destructor run here sees a consistent table */
    Py_XDECREF(old_answer);
    Py_RETURN_NONE;
}

/* remove(subject): forget it; a subject not there is no error. */
static PyObject *table_remove(Table *self, PyObject *key) {
    if (!PyUnicode_CheckExact(key)) {
        PyErr_SetString(PyExc_TypeError, "remove(subject: str)");
        return NULL;
    }
    if (!initialised(self)) return NULL;
    Py_hash_t hash = PyObject_Hash(key);
    if (hash == -1) return NULL;
    slot_t *s = find(self, key, slot_hash(hash), inline_length(key), NULL);
    if (!is_live(s)) Py_RETURN_NONE;
    PyObject *old_key = s->key, *old_answer = s->answer;
    memset(s, 0, sizeof(*s));
    s->hash = DELETED;
    self->live--;
    self->deleted++;
    Py_DECREF(old_key);
    Py_DECREF(old_answer);
    Py_RETURN_NONE;
}

static Py_ssize_t table_length(Table *self) { return self->live; }

static int table_init(Table *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"domains", "allow", "clock", NULL};
    PyObject *domains, *allow, *clock = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O|O", names, &PyTuple_Type, &domains, &allow, &clock)) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(domains);
    if (n < 1 || n > DOMAINS_MAX) {
        PyErr_SetString(PyExc_ValueError, "domains: 1 to 16 names");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(domains, i))) {
            PyErr_SetString(PyExc_TypeError, "domains: str names");
            return -1;
        }
    }
    if (clock != Py_None && !PyCallable_Check(clock)) {
        PyErr_SetString(PyExc_TypeError, "clock: None or a callable returning ns");
        return -1;
    }
    if (self->slots) {
        PyErr_SetString(PyExc_RuntimeError, "already initialised");
        return -1;
    }
    self->slots = new_slots(CAPACITY_MIN);
    if (!self->slots) {
        PyErr_NoMemory();
        return -1;
    }
    self->capacity = CAPACITY_MIN;
    self->domains = Py_NewRef(domains);
    self->allow = Py_NewRef(allow);
    self->clock = Py_NewRef(clock);
    return 0;
}

static void table_dealloc(Table *self) {
    for (Py_ssize_t i = 0; i < self->capacity; i++) {
        if (is_live(&self->slots[i])) {
            Py_DECREF(self->slots[i].key);
            Py_DECREF(self->slots[i].answer);
        }
    }
    free(self->slots);
    Py_XDECREF(self->domains);
    Py_XDECREF(self->allow);
    Py_XDECREF(self->clock);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef table_methods[] = {
    {"check", (PyCFunction)(void (*)(void))table_check, METH_FASTCALL,
     "check(subject, domain): the answer, or None when Python must answer."},
    {"put", (PyCFunction)(void (*)(void))table_put, METH_FASTCALL,
     "put(subject, mask, lo, hi, answer): answer for the mask's domains while lo <= now < hi (lo > hi: never)."},
    {"remove", (PyCFunction)table_remove, METH_O, "remove(subject): forget the subject."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods table_sequence = {.sq_length = (lenfunc)table_length};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "tessera.rules._closed.Table",
    .tp_doc = "Subjects' closed domains, answer and its time window, one 64-byte slot each.",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
    .tp_as_sequence = &table_sequence,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_closed", "The enforcement index's answer table, in C.", -1, NULL, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__closed(void) {
    if (PyType_Ready(&TableType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
