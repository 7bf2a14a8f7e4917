/*
 * The ledger's hot loop: applies whole batches of fixed-size account and transfer
 * records to state held in numpy arrays that the Python side owns and grows.
 *
 * Every function here is a pure function of (state arrays, batch, timestamp): the
 * journal stores only batches and their timestamps, and recovery replays them through
 * these same functions to rebuild identical state. The GIL is released while a batch
 * applies, so one thread can apply while another fsyncs the journal. Another thread may
 * change the caller's batch meanwhile, so the engine reads each field of it once, into
 * memory of its own (an event's ids in a first pass, the rest of the record as it is
 * applied), and checks and stores only that copy; byte copies also make any address safe.
 *
 * Record layouts, status codes, the hash index and the expiry heap are in engine.h.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#include "engine.h"

/* ---- the whole state, borrowed from Python buffers for one call ---- */

typedef struct {
    account_t *accounts;
    int64_t *account_last;   /* newest transfer touching each account, -1 if none */
    index_t account_index;
    int64_t n_accounts, cap_accounts;
    transfer_t *transfers;
    meta_t *meta;
    index_t transfer_index;
    int64_t n_transfers, cap_transfers;
    heap_t heap;
    int64_t cap_heap;
    int64_t n_expired;
} state_t;

static int all_zero(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) if (p[i]) return 0;
    return 1;
}

/* ---- accounts ---- */

static int account_same_fields(const account_t *a, const account_t *b) {
    return a->ledger == b->ledger && a->code == b->code &&
           (a->flags & ~AF_FROZEN) == (b->flags & ~AF_FROZEN) &&
           a->category == b->category && a->holding_limit == b->holding_limit &&
           a->user_data_64 == b->user_data_64 && a->user_data_32 == b->user_data_32 &&
           memcmp(a->allowed_categories, b->allowed_categories, sizeof a->allowed_categories) == 0;
}

static uint32_t account_create(state_t *s, const account_t *a, uint64_t ts) {
    if (a->timestamp != 0) return A_TIMESTAMP_MUST_BE_ZERO;
    if (a->reserved0 != 0 || !all_zero(a->reserved, sizeof a->reserved)) return A_RESERVED_FIELD;
    if (a->flags & ~AF_ALL) return A_RESERVED_FLAG;
    if (a->id == 0) return A_ID_MUST_NOT_BE_ZERO;
    if (a->id > INT63_MAX) return A_ID_TOO_LARGE;
    if ((a->flags & AF_DEBITS_MUST_NOT_EXCEED_CREDITS) && (a->flags & AF_CREDITS_MUST_NOT_EXCEED_DEBITS))
        return A_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    if (a->flags & AF_FROZEN) return A_FROZEN_REQUIRES_ORDER;
    if (a->debits_pending || a->debits_posted || a->credits_pending || a->credits_posted)
        return A_BALANCES_MUST_BE_ZERO;
    if (a->holding_limit > INT63_MAX) return A_HOLDING_LIMIT_TOO_LARGE;
    if (a->ledger == 0) return A_LEDGER_MUST_NOT_BE_ZERO;
    if (a->code == 0) return A_CODE_MUST_NOT_BE_ZERO;
    /* Canonical form: strictly ascending non-zero codes, then zero padding. */
    for (int i = 1; i < 8; i++) {
        uint16_t prev = a->allowed_categories[i - 1], cur = a->allowed_categories[i];
        if (cur != 0 && (prev == 0 || cur <= prev)) return A_ALLOWED_CATEGORIES_INVALID;
    }
    int64_t found = index_find(&s->account_index, a->id);
    if (found >= 0)
        return account_same_fields(&s->accounts[found], a) ? A_EXISTS : A_EXISTS_WITH_DIFFERENT_FIELDS;

    int64_t k = s->n_accounts++;
    s->accounts[k] = *a;
    s->accounts[k].timestamp = ts;
    s->account_last[k] = -1;
    index_insert(&s->account_index, a->id, (uint64_t)k);
    return A_OK;
}

static void account_rollback_latest(state_t *s) {
    int64_t k = --s->n_accounts;
    index_remove_latest(&s->account_index, s->accounts[k].id);
    memset(&s->accounts[k], 0, sizeof(account_t));
}

/* ---- transfers ---- */

static inline account_t *account_of(state_t *s, uint64_t id) {
    int64_t k = index_find(&s->account_index, id);
    return k < 0 ? NULL : &s->accounts[k];
}

static inline int64_t account_slot(state_t *s, uint64_t id) {
    return index_find(&s->account_index, id);
}

static int category_allowed(const account_t *payer, uint16_t category) {
    if (payer->allowed_categories[0] == 0) return 1;
    for (int i = 0; i < 8 && payer->allowed_categories[i]; i++)
        if (payer->allowed_categories[i] == category) return 1;
    return 0;
}

/* Fields a client sets; for post/void, a zero field means "as in the pending transfer". */
static int transfer_same_fields(const transfer_t *stored, const transfer_t *t) {
    int settle = (t->flags & (TF_POST | TF_VOID)) != 0;
#define SAME(f) (stored->f == t->f || (settle && t->f == 0))
    return SAME(debit_account_id) && SAME(credit_account_id) && SAME(amount) &&
           SAME(ledger) && SAME(code) &&
           stored->pending_id == t->pending_id && stored->timeout == t->timeout &&
           stored->flags == t->flags && stored->user_data_64 == t->user_data_64 &&
           stored->user_data_32 == t->user_data_32;
#undef SAME
}

/* id_hash is index_hash(t->id), computed once per event for the batch. */
static void transfer_store(state_t *s, const transfer_t *t, uint64_t ts, int64_t dr, int64_t cr,
                           uint8_t state, uint64_t expires_at, uint64_t id_hash) {
    int64_t k = s->n_transfers++;
    s->transfers[k] = *t;
    s->transfers[k].timestamp = ts;
    meta_t *m = &s->meta[k];
    memset(m, 0, sizeof *m);
    m->prev_debit = s->account_last[dr];
    m->prev_credit = s->account_last[cr];
    m->expires_at = expires_at;
    m->state = state;
    s->account_last[dr] = k;
    s->account_last[cr] = k;
    index_insert_hashed(&s->transfer_index, t->id, (uint64_t)k, id_hash);
}

static uint32_t transfer_settle(state_t *s, const transfer_t *t, uint64_t ts, uint64_t id_hash) {
    int post = (t->flags & TF_POST) != 0;
    if (t->pending_id == 0 || t->pending_id > INT63_MAX) return T_PENDING_ID_INVALID;
    if (t->pending_id == t->id) return T_PENDING_ID_MUST_BE_DIFFERENT;
    if (t->timeout != 0) return T_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
    if (t->debit_account_id > INT63_MAX) return T_DEBIT_ACCOUNT_ID_INVALID;
    if (t->credit_account_id > INT63_MAX) return T_CREDIT_ACCOUNT_ID_INVALID;
    if (t->amount > INT63_MAX) return T_AMOUNT_TOO_LARGE;

    int64_t pk = index_find(&s->transfer_index, t->pending_id);
    if (pk < 0) return T_PENDING_NOT_FOUND;
    const transfer_t *p = &s->transfers[pk];
    if (!(p->flags & TF_PENDING)) return T_PENDING_TRANSFER_NOT_PENDING;
    if ((t->debit_account_id && t->debit_account_id != p->debit_account_id) ||
        (t->credit_account_id && t->credit_account_id != p->credit_account_id) ||
        (t->ledger && t->ledger != p->ledger) || (t->code && t->code != p->code))
        return T_PENDING_TRANSFER_HAS_DIFFERENT_FIELDS;
    uint64_t amount = t->amount ? t->amount : p->amount;
    if (amount > p->amount) return T_EXCEEDS_PENDING_AMOUNT;
    if (!post && amount != p->amount) return T_PENDING_TRANSFER_HAS_DIFFERENT_FIELDS;

    int64_t found = index_find_hashed(&s->transfer_index, t->id, id_hash);
    if (found >= 0)
        return transfer_same_fields(&s->transfers[found], t) ? T_EXISTS : T_EXISTS_WITH_DIFFERENT_FIELDS;

    meta_t *pm = &s->meta[pk];
    if (pm->state == PSTATE_POSTED) return T_PENDING_ALREADY_POSTED;
    if (pm->state == PSTATE_VOIDED) return T_PENDING_ALREADY_VOIDED;
    if (pm->state == PSTATE_EXPIRED) return T_PENDING_EXPIRED;

    int64_t dr = account_slot(s, p->debit_account_id), cr = account_slot(s, p->credit_account_id);
    account_t *d = &s->accounts[dr], *c = &s->accounts[cr];
    if (post && ((d->flags | c->flags) & AF_FROZEN)) return T_ACCOUNT_FROZEN;

    d->debits_pending -= p->amount;
    c->credits_pending -= p->amount;
    if (post) {
        d->debits_posted += amount;
        c->credits_posted += amount;
    }
    pm->state = post ? PSTATE_POSTED : PSTATE_VOIDED;

    transfer_t resolved = *t;
    resolved.debit_account_id = p->debit_account_id;
    resolved.credit_account_id = p->credit_account_id;
    resolved.ledger = p->ledger;
    resolved.code = p->code;
    resolved.amount = amount;
    transfer_store(s, &resolved, ts, dr, cr, PSTATE_NONE, 0, id_hash);
    return T_OK;
}

/* dr and cr are the account slots of the transfer's debit and credit ids (-1 if absent),
 * resolved ahead of time for the whole batch so their cache misses overlap. */
static uint32_t transfer_create(state_t *s, const transfer_t *t, uint64_t ts, int64_t dr, int64_t cr,
                                uint64_t id_hash) {
    if (t->timestamp != 0) return T_TIMESTAMP_MUST_BE_ZERO;
    if (!all_zero(t->reserved, sizeof t->reserved)) return T_RESERVED_FIELD;
    if (t->flags & ~TF_ALL) return T_RESERVED_FLAG;
    if (t->id == 0) return T_ID_MUST_NOT_BE_ZERO;
    if (t->id > INT63_MAX) return T_ID_TOO_LARGE;
    int kinds = !!(t->flags & TF_PENDING) + !!(t->flags & TF_POST) + !!(t->flags & TF_VOID);
    if (kinds > 1) return T_FLAGS_ARE_MUTUALLY_EXCLUSIVE;
    if (t->flags & (TF_POST | TF_VOID)) return transfer_settle(s, t, ts, id_hash);

    int pending = (t->flags & TF_PENDING) != 0;
    if (t->pending_id != 0) return T_PENDING_ID_MUST_BE_ZERO;
    if (!pending && t->timeout != 0) return T_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER;
    if (t->debit_account_id == 0 || t->debit_account_id > INT63_MAX) return T_DEBIT_ACCOUNT_ID_INVALID;
    if (t->credit_account_id == 0 || t->credit_account_id > INT63_MAX) return T_CREDIT_ACCOUNT_ID_INVALID;
    if (t->debit_account_id == t->credit_account_id) return T_ACCOUNTS_MUST_BE_DIFFERENT;
    if (t->amount == 0) return T_AMOUNT_MUST_NOT_BE_ZERO;
    if (t->amount > INT63_MAX) return T_AMOUNT_TOO_LARGE;
    if (t->ledger == 0) return T_LEDGER_MUST_NOT_BE_ZERO;
    if (t->code == 0) return T_CODE_MUST_NOT_BE_ZERO;

    if (dr < 0 || cr < 0) return T_ACCOUNT_NOT_FOUND;
    account_t *d = &s->accounts[dr], *c = &s->accounts[cr];
    if (d->ledger != c->ledger || t->ledger != d->ledger) return T_LEDGER_MISMATCH;

    int64_t found = index_find_hashed(&s->transfer_index, t->id, id_hash);
    if (found >= 0)
        return transfer_same_fields(&s->transfers[found], t) ? T_EXISTS : T_EXISTS_WITH_DIFFERENT_FIELDS;

    if ((d->flags | c->flags) & AF_FROZEN) return T_ACCOUNT_FROZEN;
    if (!category_allowed(d, c->category)) return T_CATEGORY_NOT_ALLOWED;

    uint64_t amount = t->amount;
    /* Every balance field stays below 2**63, so these sums cannot wrap a uint64. */
    uint64_t debits = d->debits_pending + d->debits_posted;
    uint64_t credits = c->credits_pending + c->credits_posted;
    if (debits > INT63_MAX - amount || credits > INT63_MAX - amount) return T_OVERFLOWS_BALANCE;
    uint64_t expires_at = 0;
    if (pending && t->timeout) {
        uint64_t span = (uint64_t)t->timeout * NS_PER_S;
        if (ts > INT63_MAX - span) return T_OVERFLOWS_TIMEOUT;
        expires_at = ts + span;
    }
    if ((d->flags & AF_DEBITS_MUST_NOT_EXCEED_CREDITS) && debits + amount > d->credits_posted)
        return T_EXCEEDS_CREDITS;
    if ((c->flags & AF_CREDITS_MUST_NOT_EXCEED_DEBITS) && credits + amount > c->debits_posted)
        return T_EXCEEDS_DEBITS;
    if (c->holding_limit && credits + amount > c->holding_limit + c->debits_posted)
        return T_HOLDING_LIMIT_EXCEEDED;

    if (pending) {
        d->debits_pending += amount;
        c->credits_pending += amount;
    } else {
        d->debits_posted += amount;
        c->credits_posted += amount;
    }
    transfer_store(s, t, ts, dr, cr, pending ? PSTATE_PENDING : PSTATE_NONE, expires_at, id_hash);
    if (expires_at) heap_push(&s->heap, expires_at, (uint64_t)(s->n_transfers - 1));
    return T_OK;
}

static void pending_release(state_t *s, const transfer_t *p) {
    account_of(s, p->debit_account_id)->debits_pending -= p->amount;
    account_of(s, p->credit_account_id)->credits_pending -= p->amount;
}

/* Undoes the newest stored transfer: used when a linked chain fails. */
static void transfer_rollback_latest(state_t *s) {
    int64_t k = --s->n_transfers;
    transfer_t *t = &s->transfers[k];
    meta_t *m = &s->meta[k];
    int64_t dr = account_slot(s, t->debit_account_id), cr = account_slot(s, t->credit_account_id);
    account_t *d = &s->accounts[dr], *c = &s->accounts[cr];
    s->account_last[dr] = m->prev_debit;
    s->account_last[cr] = m->prev_credit;
    if (t->flags & (TF_POST | TF_VOID)) {
        int64_t pk = index_find(&s->transfer_index, t->pending_id);
        transfer_t *p = &s->transfers[pk];
        d->debits_pending += p->amount;
        c->credits_pending += p->amount;
        if (t->flags & TF_POST) {
            d->debits_posted -= t->amount;
            c->credits_posted -= t->amount;
        }
        s->meta[pk].state = PSTATE_PENDING;
        /* Its heap entry may have been popped meanwhile; a duplicate entry is harmless. */
        if (s->meta[pk].expires_at) heap_push(&s->heap, s->meta[pk].expires_at, (uint64_t)pk);
    } else if (t->flags & TF_PENDING) {
        if (m->state == PSTATE_PENDING) {
            d->debits_pending -= t->amount;
            c->credits_pending -= t->amount;
        }
    } else {
        d->debits_posted -= t->amount;
        c->credits_posted -= t->amount;
    }
    index_remove_latest(&s->transfer_index, t->id);
    memset(t, 0, sizeof *t);
    memset(m, 0, sizeof *m);
}

/* Releases every pending transfer whose timeout has passed at time ts. */
static void expire_pending(state_t *s, uint64_t ts) {
    while (s->heap.size > 0 && s->heap.items[0] <= ts) {
        uint64_t k = s->heap.items[1];
        heap_pop(&s->heap);
        /* A rolled-back transfer leaves its entry behind, past the end or on a later transfer. */
        if (k >= (uint64_t)s->n_transfers) continue;
        meta_t *m = &s->meta[k];
        if (m->state != PSTATE_PENDING || m->expires_at == 0 || m->expires_at > ts) continue;
        pending_release(s, &s->transfers[k]);
        m->state = PSTATE_EXPIRED;
        s->n_expired++;
    }
}

/* ---- batch pipelining: start the cache misses of later events early ---- */

#define PREFETCH_DISTANCE 4

static inline int64_t account_slot_or_absent(state_t *s, uint64_t id, uint64_t hash) {
    return (id == 0 || id > INT63_MAX) ? -1 : index_find_hashed(&s->account_index, id, hash);
}

/* An event's ids, read once from the caller's batch, with their hashes. */
typedef struct {
    uint64_t debit, credit, id;
    uint64_t debit_hash, credit_hash, id_hash;
} event_ids_t;

/* Reads each event's three ids once (the caller's batch, at any address), hashes them, then
 * finds the account slots up front: accounts are never created by a transfer batch. */
static void resolve_account_slots(state_t *s, const uint8_t *batch, Py_ssize_t n, event_ids_t *ids,
                                  int64_t *slots) {
    /* Ids issued in sequence share their group (id >> 6), whose hash is then computed once. */
    uint64_t group = UINT64_MAX, group_hash = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *record = batch + (size_t)i * sizeof(transfer_t);
        event_ids_t *e = &ids[i];
        memcpy(&e->id, record + offsetof(transfer_t, id), 8);
        memcpy(&e->debit, record + offsetof(transfer_t, debit_account_id), 8);
        memcpy(&e->credit, record + offsetof(transfer_t, credit_account_id), 8);
        e->debit_hash = index_hash(e->debit);
        e->credit_hash = index_hash(e->credit);
        if (e->id >> 6 != group) {
            group = e->id >> 6;
            group_hash = siphash13_u64(group);
        }
        e->id_hash = index_hash_in_group(e->id, group_hash);
    }
    uint64_t mask = s->account_index.mask;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + 2 * PREFETCH_DISTANCE < n) {
            const event_ids_t *ahead = &ids[i + 2 * PREFETCH_DISTANCE];
            prefetch_write(&s->account_index.slots[2 * (ahead->debit_hash & mask)]);
            prefetch_write(&s->account_index.slots[2 * (ahead->credit_hash & mask)]);
        }
        slots[2 * i] = account_slot_or_absent(s, ids[i].debit, ids[i].debit_hash);
        slots[2 * i + 1] = account_slot_or_absent(s, ids[i].credit, ids[i].credit_hash);
    }
}

/* An account record spans two cache lines (balances, then ledger/flags/categories). */
static inline void prefetch_account(state_t *s, int64_t slot) {
    if (slot < 0) return;
    prefetch_write(&s->accounts[slot]);
    prefetch_write((const char *)&s->accounts[slot] + 64);
    prefetch_write(&s->account_last[slot]);
}

static inline void prefetch_event(state_t *s, const event_ids_t *ids, const int64_t *slots) {
    prefetch_account(s, slots[0]);
    prefetch_account(s, slots[1]);
    prefetch_write(&s->transfer_index.slots[2 * (ids->id_hash & s->transfer_index.mask)]);
}

/* ---- Python glue ---- */

typedef struct {
    Py_buffer views[16];
    int count;
} buffers_t;

static void buffers_release(buffers_t *b) {
    for (int i = 0; i < b->count; i++) PyBuffer_Release(&b->views[i]);
    b->count = 0;
}

/* Borrows a writable (or read-only) contiguous buffer whose size is a multiple of item and
 * whose address is a multiple of align (the engine's own arrays are read as structs). */
static void *borrow_aligned(buffers_t *b, PyObject *obj, int writable, Py_ssize_t item, Py_ssize_t align,
                            Py_ssize_t *count, const char *name) {
    Py_buffer *v = &b->views[b->count];
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, v, flags) < 0) return NULL;
    b->count++;
    if (v->len % item != 0) {
        PyErr_Format(PyExc_ValueError, "%s: buffer length %zd is not a multiple of %zd", name, v->len, item);
        return NULL;
    }
    if ((uintptr_t)v->buf % (uintptr_t)align != 0) {
        PyErr_Format(PyExc_ValueError, "%s: buffer address is not a multiple of %zd", name, align);
        return NULL;
    }
    if (count) *count = v->len / item;
    return v->buf;
}

static void *borrow(buffers_t *b, PyObject *obj, int writable, Py_ssize_t item, Py_ssize_t *count,
                    const char *name) {
    return borrow_aligned(b, obj, writable, item, 8, count, name);
}

/* A caller's batch, at any address: read only with memcpy, and each field only once. */
static const uint8_t *borrow_batch(buffers_t *b, PyObject *obj, Py_ssize_t item, Py_ssize_t *count) {
    return borrow_aligned(b, obj, 0, item, 1, count, "batch");
}

/* An id from a caller's array, which need not be aligned. */
static inline uint64_t load_u64(const void *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int is_power_of_two(Py_ssize_t n) { return n > 0 && (n & (n - 1)) == 0; }

static int borrow_index(buffers_t *b, PyObject *obj, index_t *ix, const char *name) {
    Py_ssize_t cap;
    ix->slots = borrow(b, obj, 1, 16, &cap, name);
    if (!ix->slots) return -1;
    if (!is_power_of_two(cap)) {
        PyErr_Format(PyExc_ValueError, "%s: capacity %zd is not a power of two", name, cap);
        return -1;
    }
    ix->mask = (uint64_t)cap - 1;
    return 0;
}

/* counts = int64[4]: n_accounts, n_transfers, heap_size, unused */
static PyObject *py_create_accounts(PyObject *self, PyObject *args) {
    PyObject *o_acc, *o_last, *o_ix, *o_counts, *o_batch, *o_results;
    unsigned long long ts;
    if (!PyArg_ParseTuple(args, "OOOOOOK", &o_acc, &o_last, &o_ix, &o_counts, &o_batch, &o_results, &ts))
        return NULL;
    buffers_t b = {.count = 0};
    state_t s;
    memset(&s, 0, sizeof s);
    Py_ssize_t cap_last, n_counts, n_batch, n_results;
    const uint8_t *batch;
    uint32_t *results;
    int64_t *counts;
    if (!(s.accounts = borrow(&b, o_acc, 1, sizeof(account_t), &s.cap_accounts, "accounts"))) goto fail;
    if (!(s.account_last = borrow(&b, o_last, 1, 8, &cap_last, "account_last"))) goto fail;
    if (borrow_index(&b, o_ix, &s.account_index, "account_index") < 0) goto fail;
    if (!(counts = borrow(&b, o_counts, 1, 8, &n_counts, "counts"))) goto fail;
    if (!(results = borrow_aligned(&b, o_results, 1, 4, 4, &n_results, "results"))) goto fail;
    if (!(batch = borrow_batch(&b, o_batch, sizeof(account_t), &n_batch))) goto fail;
    if (n_counts < 4) { PyErr_SetString(PyExc_ValueError, "counts: need 4 slots"); goto fail; }
    s.n_accounts = counts[0];
    if (n_results != n_batch || cap_last < s.cap_accounts || s.n_accounts < 0 ||
        s.n_accounts + n_batch > s.cap_accounts ||
        (uint64_t)(s.n_accounts + n_batch) * 2 > s.account_index.mask + 1) {
        PyErr_SetString(PyExc_ValueError, "create_accounts: state arrays too small for this batch");
        goto fail;
    }
    Py_ssize_t ok = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t chain_start = -1;
    int64_t chain_n0 = 0;
    int chain_failed = 0;
    for (Py_ssize_t i = 0; i < n_batch; i++) {
        account_t record; /* the engine's own copy: checked and stored from this one read */
        memcpy(&record, batch + (size_t)i * sizeof(account_t), sizeof record);
        const account_t *a = &record;
        int linked = (a->flags & AF_LINKED) != 0;
        if (chain_start < 0 && linked) { chain_start = i; chain_n0 = s.n_accounts; }
        uint32_t st;
        if (linked && i == n_batch - 1) st = A_LINKED_EVENT_CHAIN_OPEN;
        else if (chain_failed) st = A_LINKED_EVENT_FAILED;
        else st = account_create(&s, a, ts + (uint64_t)i);
        results[i] = st;
        if (!chain_failed && st != A_OK && st != A_EXISTS && chain_start >= 0) {
            while (s.n_accounts > chain_n0) account_rollback_latest(&s);
            for (Py_ssize_t j = chain_start; j < i; j++) results[j] = A_LINKED_EVENT_FAILED;
            chain_failed = 1;
        }
        if (!linked) { chain_start = -1; chain_failed = 0; }
    }
    for (Py_ssize_t i = 0; i < n_batch; i++) ok += results[i] == A_OK;
    Py_END_ALLOW_THREADS
    counts[0] = s.n_accounts;
    buffers_release(&b);
    return PyLong_FromSsize_t(ok);
fail:
    buffers_release(&b);
    return NULL;
}

static PyObject *py_create_transfers(PyObject *self, PyObject *args) {
    PyObject *o_acc, *o_last, *o_aix, *o_xfer, *o_meta, *o_tix, *o_heap, *o_counts, *o_batch, *o_results;
    unsigned long long ts;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOK", &o_acc, &o_last, &o_aix, &o_xfer, &o_meta, &o_tix, &o_heap,
                          &o_counts, &o_batch, &o_results, &ts))
        return NULL;
    buffers_t b = {.count = 0};
    state_t s;
    memset(&s, 0, sizeof s);
    Py_ssize_t cap_last, cap_meta, n_counts, n_batch, n_results;
    const uint8_t *batch;
    int64_t *slots = NULL;
    event_ids_t *ids = NULL;
    uint32_t *results;
    int64_t *counts;
    if (!(s.accounts = borrow(&b, o_acc, 1, sizeof(account_t), &s.cap_accounts, "accounts"))) goto fail;
    if (!(s.account_last = borrow(&b, o_last, 1, 8, &cap_last, "account_last"))) goto fail;
    if (borrow_index(&b, o_aix, &s.account_index, "account_index") < 0) goto fail;
    if (!(s.transfers = borrow(&b, o_xfer, 1, sizeof(transfer_t), &s.cap_transfers, "transfers"))) goto fail;
    if (!(s.meta = borrow(&b, o_meta, 1, sizeof(meta_t), &cap_meta, "meta"))) goto fail;
    if (borrow_index(&b, o_tix, &s.transfer_index, "transfer_index") < 0) goto fail;
    if (!(s.heap.items = borrow(&b, o_heap, 1, 16, &s.cap_heap, "heap"))) goto fail;
    if (!(counts = borrow(&b, o_counts, 1, 8, &n_counts, "counts"))) goto fail;
    if (!(results = borrow_aligned(&b, o_results, 1, 4, 4, &n_results, "results"))) goto fail;
    if (!(batch = borrow_batch(&b, o_batch, sizeof(transfer_t), &n_batch))) goto fail;
    if (n_counts < 4) { PyErr_SetString(PyExc_ValueError, "counts: need 4 slots"); goto fail; }
    s.n_accounts = counts[0];
    s.n_transfers = counts[1];
    s.heap.size = counts[2];
    if (n_results != n_batch || s.n_accounts < 0 || s.n_transfers < 0 || s.heap.size < 0 ||
        cap_last < s.n_accounts || cap_meta < s.cap_transfers ||
        s.n_accounts > s.cap_accounts || s.n_transfers + n_batch > s.cap_transfers ||
        (uint64_t)(s.n_transfers + n_batch) * 2 > s.transfer_index.mask + 1 ||
        s.heap.size + 2 * n_batch > s.cap_heap) {
        PyErr_SetString(PyExc_ValueError, "create_transfers: state arrays too small for this batch");
        goto fail;
    }
    slots = PyMem_RawMalloc(sizeof(int64_t) * 2 * (size_t)(n_batch + 1));
    ids = PyMem_RawMalloc(sizeof(event_ids_t) * (size_t)(n_batch + 1));
    if (!slots || !ids) { PyErr_NoMemory(); goto fail; }
    Py_ssize_t ok = 0;
    Py_BEGIN_ALLOW_THREADS
    resolve_account_slots(&s, batch, n_batch, ids, slots);
    Py_ssize_t chain_start = -1;
    int64_t chain_n0 = 0;
    int chain_failed = 0;
    for (Py_ssize_t i = 0; i < n_batch; i++) {
        /* The engine's own copy of the record, with the ids it resolved: checked and stored
         * from one read, whatever the caller's array holds by now. */
        transfer_t record;
        memcpy(&record, batch + (size_t)i * sizeof(transfer_t), sizeof record);
        record.id = ids[i].id;
        record.debit_account_id = ids[i].debit;
        record.credit_account_id = ids[i].credit;
        const transfer_t *t = &record;
        uint64_t now = ts + (uint64_t)i;
        if (i + PREFETCH_DISTANCE < n_batch)
            prefetch_event(&s, &ids[i + PREFETCH_DISTANCE], &slots[2 * (i + PREFETCH_DISTANCE)]);
        expire_pending(&s, now);
        int linked = (t->flags & TF_LINKED) != 0;
        if (chain_start < 0 && linked) { chain_start = i; chain_n0 = s.n_transfers; }
        uint32_t st;
        if (linked && i == n_batch - 1) st = T_LINKED_EVENT_CHAIN_OPEN;
        else if (chain_failed) st = T_LINKED_EVENT_FAILED;
        else st = transfer_create(&s, t, now, slots[2 * i], slots[2 * i + 1], ids[i].id_hash);
        results[i] = st;
        if (!chain_failed && st != T_OK && st != T_EXISTS && chain_start >= 0) {
            while (s.n_transfers > chain_n0) transfer_rollback_latest(&s);
            for (Py_ssize_t j = chain_start; j < i; j++) results[j] = T_LINKED_EVENT_FAILED;
            chain_failed = 1;
            /* A hold the chain had settled is pending again; it may already be past due. */
            expire_pending(&s, now);
        }
        if (!linked) { chain_start = -1; chain_failed = 0; }
    }
    for (Py_ssize_t i = 0; i < n_batch; i++) ok += results[i] == T_OK;
    Py_END_ALLOW_THREADS
    PyMem_RawFree(ids);
    PyMem_RawFree(slots);
    counts[0] = s.n_accounts;
    counts[1] = s.n_transfers;
    counts[2] = s.heap.size;
    buffers_release(&b);
    return Py_BuildValue("nL", ok, (long long)s.n_expired);
fail:
    PyMem_RawFree(ids);
    PyMem_RawFree(slots);
    buffers_release(&b);
    return NULL;
}

/* lookup(index, ids: uint64[n], out: int64[n]) -> number found; out[i] = slot or -1 */
static PyObject *py_lookup(PyObject *self, PyObject *args) {
    PyObject *o_ix, *o_ids, *o_out;
    if (!PyArg_ParseTuple(args, "OOO", &o_ix, &o_ids, &o_out)) return NULL;
    buffers_t b = {.count = 0};
    index_t ix;
    Py_ssize_t n_ids, n_out;
    const uint8_t *ids;
    int64_t *out;
    if (borrow_index(&b, o_ix, &ix, "index") < 0) goto fail;
    if (!(ids = borrow_aligned(&b, o_ids, 0, 8, 1, &n_ids, "ids"))) goto fail;
    if (!(out = borrow(&b, o_out, 1, 8, &n_out, "out"))) goto fail;
    if (n_out != n_ids) { PyErr_SetString(PyExc_ValueError, "lookup: out must match ids"); goto fail; }
    Py_ssize_t found = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n_ids; i++) {
        uint64_t id = load_u64(ids + 8 * i);
        int64_t slot = id == 0 ? -1 : index_find(&ix, id);
        out[i] = slot;
        found += slot >= 0;
    }
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    return PyLong_FromSsize_t(found);
fail:
    buffers_release(&b);
    return NULL;
}

/* build_index(index, ids: uint64[n]): inserts ids[i] -> i into an empty index. */
static PyObject *py_build_index(PyObject *self, PyObject *args) {
    PyObject *o_ix, *o_ids;
    if (!PyArg_ParseTuple(args, "OO", &o_ix, &o_ids)) return NULL;
    buffers_t b = {.count = 0};
    index_t ix;
    Py_ssize_t n_ids;
    const uint8_t *ids;
    if (borrow_index(&b, o_ix, &ix, "index") < 0) goto fail;
    if (!(ids = borrow_aligned(&b, o_ids, 0, 8, 1, &n_ids, "ids"))) goto fail;
    if ((uint64_t)n_ids * 2 > ix.mask + 1) { PyErr_SetString(PyExc_ValueError, "build_index: index too small"); goto fail; }
    Py_BEGIN_ALLOW_THREADS
    memset(ix.slots, 0, (ix.mask + 1) * 16);
    /* Id 0 marks an empty slot: it can never be stored, so it is never inserted. */
    for (Py_ssize_t i = 0; i < n_ids; i++) {
        uint64_t id = load_u64(ids + 8 * i);
        if (id != 0) index_insert(&ix, id, (uint64_t)i);
    }
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    Py_RETURN_NONE;
fail:
    buffers_release(&b);
    return NULL;
}

/* index_probes(index) -> the slot reads it takes to find every stored key once (each key's
 * distance past its home slot, plus one): the work ids cost the index, counted rather than
 * timed, so a test can tell ids that pile up from ids that spread out. */
static PyObject *py_index_probes(PyObject *self, PyObject *args) {
    PyObject *o_ix;
    if (!PyArg_ParseTuple(args, "O", &o_ix)) return NULL;
    buffers_t b = {.count = 0};
    index_t ix;
    if (borrow_index(&b, o_ix, &ix, "index") < 0) {
        buffers_release(&b);
        return NULL;
    }
    uint64_t probes = 0;
    Py_BEGIN_ALLOW_THREADS
    for (uint64_t i = 0; i <= ix.mask; i++) {
        uint64_t key = ix.slots[2 * i];
        if (key != 0) probes += ((i - index_home(&ix, key)) & ix.mask) + 1;
    }
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    return PyLong_FromUnsignedLongLong(probes);
}

/* account_transfers(account_last, meta, transfers, account_slot, account_id, limit, reverse, out)
 * -> count written to out (int64 slots of transfers, in the order asked for). */
static PyObject *py_account_transfers(PyObject *self, PyObject *args) {
    PyObject *o_last, *o_meta, *o_xfer, *o_out;
    Py_ssize_t slot, limit;
    unsigned long long account_id;
    int reverse;
    if (!PyArg_ParseTuple(args, "OOOnKnpO", &o_last, &o_meta, &o_xfer, &slot, &account_id, &limit, &reverse, &o_out))
        return NULL;
    buffers_t b = {.count = 0};
    Py_ssize_t n_last, n_meta, n_xfer, n_out;
    const int64_t *last;
    const meta_t *meta;
    const transfer_t *xfer;
    int64_t *out;
    if (!(last = borrow(&b, o_last, 0, 8, &n_last, "account_last"))) goto fail;
    if (!(meta = borrow(&b, o_meta, 0, sizeof(meta_t), &n_meta, "meta"))) goto fail;
    if (!(xfer = borrow(&b, o_xfer, 0, sizeof(transfer_t), &n_xfer, "transfers"))) goto fail;
    if (!(out = borrow(&b, o_out, 1, 8, &n_out, "out"))) goto fail;
    if (slot < 0 || slot >= n_last || limit > n_out || limit < 0) {
        PyErr_SetString(PyExc_ValueError, "account_transfers: bad slot or limit");
        goto fail;
    }
    Py_ssize_t written = 0;
    Py_BEGIN_ALLOW_THREADS
    /* The chain runs newest to oldest. Oldest-first wants the chain's last `limit` entries. */
    /* A chain only ever points back in time, to a stored transfer: anything else ends it. */
    int64_t bound = n_meta < n_xfer ? n_meta : n_xfer;
#define NEXT(k) (xfer[k].debit_account_id == account_id ? meta[k].prev_debit : meta[k].prev_credit)
#define VALID(k, newer) ((k) >= 0 && (k) < (newer))
    if (reverse) {
        for (int64_t k = last[slot], newer = bound; VALID(k, newer) && written < limit; newer = k, k = NEXT(k))
            out[written++] = k;
    } else {
        Py_ssize_t total = 0;
        for (int64_t k = last[slot], newer = bound; VALID(k, newer); newer = k, k = NEXT(k)) total++;
        written = total < limit ? total : limit;
        Py_ssize_t seen = 0;
        for (int64_t k = last[slot], newer = bound; VALID(k, newer); newer = k, k = NEXT(k), seen++)
            if (seen >= total - written) out[total - 1 - seen] = k;
    }
#undef VALID
#undef NEXT
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    return PyLong_FromSsize_t(written);
fail:
    buffers_release(&b);
    return NULL;
}

/* checksum(buffer) -> 64-bit FNV-1a over 8-byte words; fast, not cryptographic. */
static PyObject *py_checksum(PyObject *self, PyObject *args) {
    Py_buffer v;
    if (!PyArg_ParseTuple(args, "y*", &v)) return NULL;
    uint64_t h = 0xcbf29ce484222325ULL;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *p = v.buf;
    Py_ssize_t n = v.len, i = 0;
    /* Four independent lanes keep the multiply latency off the critical path. */
    uint64_t l0 = h, l1 = h ^ 1, l2 = h ^ 2, l3 = h ^ 3;
    for (; i + 32 <= n; i += 32) {
        uint64_t w0, w1, w2, w3;
        memcpy(&w0, p + i, 8); memcpy(&w1, p + i + 8, 8);
        memcpy(&w2, p + i + 16, 8); memcpy(&w3, p + i + 24, 8);
        l0 = (l0 ^ w0) * 0x100000001b3ULL; l1 = (l1 ^ w1) * 0x100000001b3ULL;
        l2 = (l2 ^ w2) * 0x100000001b3ULL; l3 = (l3 ^ w3) * 0x100000001b3ULL;
    }
    h = mix64(l0) ^ mix64(l1 + 0x9e3779b97f4a7c15ULL) ^ mix64(l2 + 0x3c6ef372fe94f82aULL) ^ mix64(l3 + 0xdaa66d2c7ddf743fULL);
    for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    h = mix64(h ^ (uint64_t)n);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLongLong(h);
}

/* populate(buffer) -> bool: fault in the buffer's pages now, without changing its bytes.
 * Fresh numpy arrays are mapped lazily; a first write to each page costs a fault (zeroing
 * a huge page, a VM exit), which would otherwise land inside the apply loop. */
static PyObject *py_populate(PyObject *self, PyObject *args) {
    Py_buffer v;
    if (!PyArg_ParseTuple(args, "w*", &v)) return NULL;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = ((uintptr_t)v.buf + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)v.buf + (uintptr_t)v.len) & ~((uintptr_t)page - 1);
    int rc = 0;
    Py_BEGIN_ALLOW_THREADS
    if (end > start) rc = madvise((void *)start, end - start, MADV_POPULATE_WRITE);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&v);
    return PyBool_FromLong(rc == 0);
}

static PyMethodDef methods[] = {
    {"populate", py_populate, METH_VARARGS, "Fault in a writable buffer's pages."},
    {"create_accounts", py_create_accounts, METH_VARARGS, "Apply a batch of account records."},
    {"create_transfers", py_create_transfers, METH_VARARGS, "Apply a batch of transfer records."},
    {"lookup", py_lookup, METH_VARARGS, "Find slots for ids in a hash index."},
    {"build_index", py_build_index, METH_VARARGS, "Fill an empty hash index from an id array."},
    {"index_probes", py_index_probes, METH_VARARGS, "Slot reads needed to find every key of an index once."},
    {"account_transfers", py_account_transfers, METH_VARARGS, "List transfer slots of one account."},
    {"checksum", py_checksum, METH_VARARGS, "64-bit checksum of a buffer."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_engine", "Tessera ledger engine.", -1, methods, NULL, NULL, NULL, NULL};

/* The index hash's secret: fresh for each process, so nobody outside can know it. Indexes
 * live only in memory (snapshots leave them out, recovery rebuilds them), so nothing on
 * disk depends on it. Drawn once: a second initialisation must not orphan live indexes. */
static int seed_index_hash(void) {
    static int seeded = 0;
    if (seeded) return 0;
    uint64_t key[2];
    size_t got = 0;
    while (got < sizeof key) {
        ssize_t n = getrandom((char *)key + got, sizeof key - got, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        got += (size_t)n;
    }
    siphash_set_key(key[0], key[1]);
    seeded = 1;
    return 0;
}

PyMODINIT_FUNC PyInit__engine(void) {
    if (seed_index_hash() < 0) return NULL;
    return PyModule_Create(&module);
}
