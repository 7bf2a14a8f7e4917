/*
 * The face index's full scan: for each query, the k codes nearest by Hamming distance
 * among rows [start, stop) of an array of 512-bit codes (64 bytes each), exactly.
 *
 * Ties are broken by the lower row, so the answer is exact and never depends on timing
 * or on how the rows were split between threads. Each query keeps a max-heap of its k
 * best (distance, row) pairs; a thread meets its rows in increasing order, so a code
 * joins the heap only when its distance is below the heap's worst, which after the first
 * few thousand codes almost never happens: the scan is a loop of XOR, popcount and one
 * compare.
 *
 * At a million codes the scan reads 64 MB, more than the L3 cache holds, and one query
 * is bound by memory: the AVX2 path (a nibble-table popcount, four codes a step)
 * prefetches 16 codes ahead, which brought it near the speed of a bare read loop on the
 * standard VM (without, it was 10-20 % slower). Several queries share each pass over the
 * codes (GROUP at a time), which makes a batch bound by arithmetic instead. Without AVX2
 * (checked at import) the same scan runs with scalar popcounts.
 *
 * The scan runs with the GIL released, in the calling thread and ``threads - 1`` threads
 * started for it, each taking the next CHUNK_CODES rows until none are left: on a
 * machine whose cores other work also wants, a thread that is made to wait no longer
 * holds up the answer with a fixed half of the codes. Each keeps its own heaps, merged at
 * the end by (distance, row), so the answer is the same whichever thread took what.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_X86 1
#include <immintrin.h>
#endif

#define CODE_BYTES 64
#define CODE_WORDS 8
#define CODE_BITS 512
#define PAD_DISTANCE (CODE_BITS + 1) /* the distance written where a query has fewer than k codes */
#define NONE_YET (CODE_BITS + 1)     /* a heap not full yet takes any distance below this */
#define K_MAX 4096
#define GROUP 8              /* queries per pass over the codes: enough to be bound by arithmetic */
#define PREFETCH_BYTES 1024 /* how far ahead the single-query scan prefetches */
#define THREADS_MAX 64
/* Rows a thread takes at a time (512 KiB of codes): small, so that a thread held up by other
 * work on its core leaves the rest of the scan to the others instead of holding up the answer. */
#define CHUNK_CODES 8192

typedef struct {
    uint32_t distance;
    int64_t row;
} item_t;

/* A query's k best so far, worst on top; ``bar`` is the distance a new code must beat. */
typedef struct {
    item_t *items;
    int count, k;
    uint32_t bar;
} heap_t;

static int use_avx2 = 0;

static inline int worse(item_t a, item_t b) {
    return a.distance > b.distance || (a.distance == b.distance && a.row > b.row);
}

static void sift_down(item_t *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(h[l], h[m])) m = l;
        if (r < n && worse(h[r], h[m])) m = r;
        if (m == i) return;
        item_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(item_t *h, int i) {
    while (i) {
        int p = (i - 1) / 2;
        if (!worse(h[i], h[p])) return;
        item_t t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* Called only when distance < h->bar: the code is among the k best of the rows so far. */
static void push(heap_t *h, uint32_t distance, int64_t row) {
    if (h->count < h->k) {
        h->items[h->count] = (item_t){distance, row};
        sift_up(h->items, h->count++);
        if (h->count == h->k) h->bar = h->items[0].distance;
    } else {
        h->items[0] = (item_t){distance, row};
        sift_down(h->items, h->count, 0);
        h->bar = h->items[0].distance;
    }
}

/* ---- scalar: any CPU; the popcount is an instruction where the compiler may use one ---- */

static inline uint32_t distance_scalar(const uint64_t *q, const unsigned char *code) {
    uint64_t c[CODE_WORDS];
    memcpy(c, code, CODE_BYTES);
    uint32_t d = 0;
    for (int w = 0; w < CODE_WORDS; w++) d += (uint32_t)__builtin_popcountll(q[w] ^ c[w]);
    return d;
}

static void scan_scalar(const unsigned char *codes, int64_t start, int64_t stop, const uint64_t *queries,
                        heap_t *heaps, int nq) {
    for (int64_t i = start; i < stop; i++) {
        const unsigned char *code = codes + CODE_BYTES * i;
        for (int j = 0; j < nq; j++) {
            uint32_t d = distance_scalar(queries + CODE_WORDS * j, code);
            if (d < heaps[j].bar) push(&heaps[j], d, i);
        }
    }
}

/* ---- AVX2 ---- */

#ifdef HAVE_X86
#define AVX2 __attribute__((target("avx2,popcnt")))

/* The number of set bits in each byte of v (the nibble table of Muła et al.). */
AVX2 static inline __m256i popcount_bytes(__m256i v) {
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1,
                                           2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i lo = _mm256_and_si256(v, low), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(table, lo), _mm256_shuffle_epi8(table, hi));
}

/* The distance of one code (two halves) to one query, as four partial sums in 64-bit lanes. */
AVX2 static inline __m256i partial_sums(__m256i a, __m256i b, __m256i qa, __m256i qb) {
    __m256i bytes = _mm256_add_epi8(popcount_bytes(_mm256_xor_si256(a, qa)), popcount_bytes(_mm256_xor_si256(b, qb)));
    return _mm256_sad_epu8(bytes, _mm256_setzero_si256());
}

/* Four distances from their partial sums: [s0, s1, s2, s3] as 32-bit lanes. */
AVX2 static inline __m128i four_distances(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    __m256i s01 = _mm256_or_si256(s0, _mm256_slli_epi64(s1, 32));
    __m256i s23 = _mm256_or_si256(s2, _mm256_slli_epi64(s3, 32));
    __m256i t = _mm256_add_epi32(_mm256_unpacklo_epi64(s01, s23), _mm256_unpackhi_epi64(s01, s23));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* One query, four codes a step, prefetching ahead: bound by memory. */
AVX2 static void scan_one_avx2(const unsigned char *codes, int64_t start, int64_t stop, const uint64_t *query,
                               heap_t *heap) {
    __m256i qa = _mm256_loadu_si256((const __m256i *)query), qb = _mm256_loadu_si256((const __m256i *)(query + 4));
    int64_t i = start;
    for (; i + 4 <= stop; i += 4) {
        const unsigned char *c = codes + CODE_BYTES * i;
        for (int j = 0; j < 4; j++) _mm_prefetch((const char *)(c + PREFETCH_BYTES + CODE_BYTES * j), _MM_HINT_T0);
        __m256i s[4];
        for (int j = 0; j < 4; j++)
            s[j] = partial_sums(_mm256_loadu_si256((const __m256i *)(c + CODE_BYTES * j)),
                                _mm256_loadu_si256((const __m256i *)(c + CODE_BYTES * j + 32)), qa, qb);
        __m128i d = four_distances(s[0], s[1], s[2], s[3]);
        int below = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(d, _mm_set1_epi32((int)heap->bar))));
        if (__builtin_expect(below != 0, 0)) {
            uint32_t ds[4];
            _mm_storeu_si128((__m128i *)ds, d);
            for (int j = 0; j < 4; j++)
                if (ds[j] < heap->bar) push(heap, ds[j], i + j);
        }
    }
    scan_scalar(codes, i, stop, query, heap, 1);
}

/* Up to GROUP queries, each code loaded once and compared with four queries a step. */
AVX2 static void scan_group_avx2(const unsigned char *codes, int64_t start, int64_t stop, const uint64_t *queries,
                                 heap_t *heaps, int nq) {
    int steps = (nq + 3) / 4;
    __m256i qa[GROUP], qb[GROUP];
    uint32_t bars[GROUP];
    for (int j = 0; j < 4 * steps; j++) {
        const uint64_t *q = queries + CODE_WORDS * (j < nq ? j : 0); /* padding: any query, never taken */
        qa[j] = _mm256_loadu_si256((const __m256i *)q);
        qb[j] = _mm256_loadu_si256((const __m256i *)(q + 4));
        bars[j] = j < nq ? heaps[j].bar : 0;
    }
    for (int64_t i = start; i < stop; i++) {
        const unsigned char *c = codes + CODE_BYTES * i;
        _mm_prefetch((const char *)(c + PREFETCH_BYTES), _MM_HINT_T0);
        __m256i a = _mm256_loadu_si256((const __m256i *)c), b = _mm256_loadu_si256((const __m256i *)(c + 32));
        for (int g = 0; g < 4 * steps; g += 4) {
            __m128i d = four_distances(partial_sums(a, b, qa[g], qb[g]), partial_sums(a, b, qa[g + 1], qb[g + 1]),
                                       partial_sums(a, b, qa[g + 2], qb[g + 2]),
                                       partial_sums(a, b, qa[g + 3], qb[g + 3]));
            __m128i bar = _mm_loadu_si128((const __m128i *)(bars + g));
            int below = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(d, bar)));
            if (__builtin_expect(below != 0, 0)) {
                uint32_t ds[4];
                _mm_storeu_si128((__m128i *)ds, d);
                for (int j = 0; j < 4; j++) {
                    if (ds[j] < bars[g + j]) {
                        push(&heaps[g + j], ds[j], i);
                        bars[g + j] = heaps[g + j].bar;
                    }
                }
            }
        }
    }
}
#endif

/* One range of codes for nq queries, GROUP queries per pass. No Python calls. */
static void scan_range(const unsigned char *codes, int64_t start, int64_t stop, const uint64_t *words, heap_t *heaps,
                       Py_ssize_t nq, int portable) {
    for (Py_ssize_t first = 0; first < nq; first += GROUP) {
        int n = (int)(nq - first < GROUP ? nq - first : GROUP);
        const uint64_t *group = words + CODE_WORDS * first;
#ifdef HAVE_X86
        if (use_avx2 && !portable) {
            if (n == 1) scan_one_avx2(codes, start, stop, group, heaps + first);
            else scan_group_avx2(codes, start, stop, group, heaps + first, n);
            continue;
        }
#endif
        scan_scalar(codes, start, stop, group, heaps + first, n);
    }
}

/* A scan shared by threads: each takes the next chunk of rows until none is left. */
typedef struct {
    const unsigned char *codes;
    int64_t start, stop, chunks;
    int64_t next; /* the next chunk to take, atomically */
    const uint64_t *words;
    Py_ssize_t nq;
    int portable;
} job_t;

typedef struct {
    job_t *job;
    heap_t *heaps; /* one per query */
} worker_t;

/* Chunks come off the counter in increasing order, so each thread still meets its rows in
 * increasing order, which is what lets a heap drop a tie (the later row) without a look. */
static void *work(void *arg) {
    worker_t *w = arg;
    job_t *job = w->job;
    for (;;) {
        int64_t chunk = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED);
        if (chunk >= job->chunks) return NULL;
        int64_t lo = job->start + chunk * CHUNK_CODES, hi = lo + CHUNK_CODES < job->stop ? lo + CHUNK_CODES : job->stop;
        scan_range(job->codes, lo, hi, job->words, w->heaps, job->nq, job->portable);
    }
}

/* Sorts a heap's items nearest first, in place (heapsort). */
static void sort_heap(heap_t *h) {
    for (int end = h->count - 1; end > 0; end--) {
        item_t t = h->items[0];
        h->items[0] = h->items[end];
        h->items[end] = t;
        sift_down(h->items, end, 0);
    }
}

/* Merges the threads' sorted answers for query i, nearest first, padded to k. */
static void write_merged(worker_t *workers, int threads, Py_ssize_t i, int k, int32_t *distances, int64_t *rows) {
    int at[THREADS_MAX] = {0};
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int t = 0; t < threads; t++) {
            heap_t *h = &workers[t].heaps[i];
            if (at[t] < h->count && (best < 0 || worse(workers[best].heaps[i].items[at[best]], h->items[at[t]])))
                best = t;
        }
        int32_t d = PAD_DISTANCE;
        int64_t r = -1;
        if (best >= 0) {
            item_t item = workers[best].heaps[i].items[at[best]++];
            d = (int32_t)item.distance;
            r = item.row;
        }
        memcpy(distances + j, &d, sizeof d); /* the caller's arrays need not be aligned */
        memcpy(rows + j, &r, sizeof r);
    }
}

/* The whole scan in ``threads`` threads (this one and threads - 1 started here); 0, or -1
 * when out of memory. A thread that cannot be started leaves its share to the others. No Python calls. */
static int scan(const unsigned char *codes, int64_t start, int64_t stop, const unsigned char *queries, Py_ssize_t nq,
                int k, int threads, int portable, int32_t *distances, int64_t *rows) {
    uint64_t *words = PyMem_RawMalloc(CODE_BYTES * (size_t)(nq ? nq : 1));
    item_t *items = PyMem_RawMalloc(sizeof(item_t) * (size_t)threads * (size_t)nq * (size_t)k + 1);
    heap_t *heaps = PyMem_RawMalloc(sizeof(heap_t) * (size_t)threads * (size_t)nq + 1);
    worker_t workers[THREADS_MAX];
    pthread_t ids[THREADS_MAX];
    int failed = words == NULL || items == NULL || heaps == NULL;
    if (!failed) {
        memcpy(words, queries, CODE_BYTES * (size_t)nq);
        job_t job = {codes, start, stop, (stop - start + CHUNK_CODES - 1) / CHUNK_CODES, 0, words, nq, portable};
        for (int t = 0; t < threads; t++) {
            workers[t] = (worker_t){&job, heaps + (size_t)t * nq};
            for (Py_ssize_t i = 0; i < nq; i++)
                workers[t].heaps[i] = (heap_t){items + ((size_t)t * nq + i) * k, 0, k, NONE_YET};
        }
        int started = 1;
        while (started < threads && pthread_create(&ids[started], NULL, work, &workers[started]) == 0) started++;
        work(&workers[0]);
        for (int t = 1; t < started; t++) pthread_join(ids[t], NULL);
        for (int t = 0; t < started; t++)
            for (Py_ssize_t i = 0; i < nq; i++) sort_heap(&workers[t].heaps[i]);
        for (Py_ssize_t i = 0; i < nq; i++) write_merged(workers, started, i, k, distances + i * k, rows + i * k);
    }
    PyMem_RawFree(words);
    PyMem_RawFree(items);
    PyMem_RawFree(heaps);
    return failed ? -1 : 0;
}

/* ---- the module's functions ---- */

static PyObject *nearest(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"", "", "", "", "", "", "", "threads", "portable", NULL};
    Py_buffer codes = {0}, queries = {0}, distances = {0}, rows = {0};
    int k, threads = 1, portable = 0;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*innw*w*|$ip:nearest", keywords, &codes, &queries, &k, &start,
                                     &stop, &distances, &rows, &threads, &portable))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = codes.len / CODE_BYTES, nq = queries.len / CODE_BYTES;
    if (codes.len % CODE_BYTES || queries.len % CODE_BYTES) {
        PyErr_Format(PyExc_ValueError, "codes and queries must be whole %d-byte codes", CODE_BYTES);
    } else if (k < 1 || k > K_MAX) {
        PyErr_Format(PyExc_ValueError, "k must be 1..%d, got %d", K_MAX, k);
    } else if (threads < 1 || threads > THREADS_MAX) {
        PyErr_Format(PyExc_ValueError, "threads must be 1..%d, got %d", THREADS_MAX, threads);
    } else if (start < 0 || start > stop || stop > n) {
        PyErr_Format(PyExc_ValueError, "rows %zd..%zd are not within the %zd codes", start, stop, n);
    } else if (distances.len != nq * k * (Py_ssize_t)sizeof(int32_t) || rows.len != nq * k * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_Format(PyExc_ValueError, "distances and rows must hold %zd int32 and int64 values", nq * k);
    } else {
        int failed;
        /* The buffers stay exported, so nothing can resize them while the GIL is released. */
        Py_BEGIN_ALLOW_THREADS
        failed = scan(codes.buf, start, stop, queries.buf, nq, k, threads, portable, distances.buf, rows.buf);
        Py_END_ALLOW_THREADS
        if (failed) PyErr_NoMemory();
        else result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&codes);
    PyBuffer_Release(&queries);
    PyBuffer_Release(&distances);
    PyBuffer_Release(&rows);
    return result;
}

static PyMethodDef methods[] = {
    {"nearest", (PyCFunction)(void (*)(void))nearest, METH_VARARGS | METH_KEYWORDS,
     "nearest(codes, queries, k, start, stop, distances, rows, /, *, threads=1, portable=False): per query, the k "
     "codes of rows start..stop nearest by Hamming distance (ties: lower row first) into distances (int32) and "
     "rows (int64), padded with 513 and -1; scanned by this thread and threads - 1 more."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_hamming", "Exact top-k Hamming scans of 512-bit codes, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__hamming(void) {
#ifdef HAVE_X86
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddStringConstant(m, "instructions", use_avx2 ? "avx2" : "portable") < 0 ||
        PyModule_AddIntConstant(m, "K_MAX", K_MAX) < 0 || PyModule_AddIntConstant(m, "PAD_DISTANCE", PAD_DISTANCE) < 0 ||
        PyModule_AddIntConstant(m, "CHUNK_CODES", CHUNK_CODES) < 0 || PyModule_AddIntConstant(m, "THREADS_MAX", THREADS_MAX) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
