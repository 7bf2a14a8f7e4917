/*
 * Record layouts, status codes and the two data structures the engine runs on: an
 * open-addressing hash index and the pending-expiry heap. Included by _engine.c only.
 * The layouts match records.py; the status numbers match status.py (tests check both).
 */
#ifndef TESSERA_ENGINE_H
#define TESSERA_ENGINE_H

#include <stdint.h>
#include <string.h>

#define INT63_MAX ((uint64_t)INT64_MAX)
#define NS_PER_S 1000000000ULL

/* ---- record layouts (little-endian, naturally aligned) ---- */

typedef struct {
    uint64_t id;
    uint64_t debit_account_id;
    uint64_t credit_account_id;
    uint64_t amount;
    uint64_t pending_id;
    uint64_t user_data_64;
    uint64_t timestamp;
    uint32_t timeout;
    uint32_t ledger;
    uint16_t code;
    uint16_t flags;
    uint32_t user_data_32;
    uint8_t reserved[56];
} transfer_t;

typedef struct {
    uint64_t id;
    uint64_t debits_pending;
    uint64_t debits_posted;
    uint64_t credits_pending;
    uint64_t credits_posted;
    uint64_t holding_limit;
    uint64_t user_data_64;
    uint64_t timestamp;
    uint32_t ledger;
    uint16_t code;
    uint16_t flags;
    uint16_t category;
    uint16_t allowed_categories[8];
    uint16_t reserved0;
    uint32_t user_data_32;
    uint8_t reserved[32];
} account_t;

/* Engine-private bookkeeping for each stored transfer. */
typedef struct {
    int64_t prev_debit;   /* previous transfer touching the debit account, -1 if none */
    int64_t prev_credit;  /* previous transfer touching the credit account, -1 if none */
    uint64_t expires_at;  /* pending transfers with a timeout; 0 = never */
    uint8_t state;        /* PSTATE_* */
    uint8_t pad[7];
} meta_t;

_Static_assert(sizeof(transfer_t) == 128, "transfer record must be 128 bytes");
_Static_assert(sizeof(account_t) == 128, "account record must be 128 bytes");
_Static_assert(sizeof(meta_t) == 32, "meta record must be 32 bytes");

enum { PSTATE_NONE = 0, PSTATE_PENDING = 1, PSTATE_POSTED = 2, PSTATE_VOIDED = 3, PSTATE_EXPIRED = 4 };

enum {
    AF_LINKED = 1, AF_DEBITS_MUST_NOT_EXCEED_CREDITS = 2, AF_CREDITS_MUST_NOT_EXCEED_DEBITS = 4,
    AF_FROZEN = 8, AF_ALL = 15
};
enum { TF_LINKED = 1, TF_PENDING = 2, TF_POST = 4, TF_VOID = 8, TF_ALL = 15 };

/* Status codes: must match status.py (a test checks the two tables agree). */
enum {
    A_OK = 0, A_LINKED_EVENT_FAILED, A_LINKED_EVENT_CHAIN_OPEN, A_TIMESTAMP_MUST_BE_ZERO,
    A_RESERVED_FIELD, A_RESERVED_FLAG, A_ID_MUST_NOT_BE_ZERO, A_ID_TOO_LARGE,
    A_FLAGS_ARE_MUTUALLY_EXCLUSIVE, A_FROZEN_REQUIRES_ORDER, A_BALANCES_MUST_BE_ZERO,
    A_HOLDING_LIMIT_TOO_LARGE, A_LEDGER_MUST_NOT_BE_ZERO, A_CODE_MUST_NOT_BE_ZERO,
    A_ALLOWED_CATEGORIES_INVALID, A_EXISTS_WITH_DIFFERENT_FIELDS, A_EXISTS
};

enum {
    T_OK = 0, T_LINKED_EVENT_FAILED, T_LINKED_EVENT_CHAIN_OPEN, T_TIMESTAMP_MUST_BE_ZERO,
    T_RESERVED_FIELD, T_RESERVED_FLAG, T_ID_MUST_NOT_BE_ZERO, T_ID_TOO_LARGE,
    T_FLAGS_ARE_MUTUALLY_EXCLUSIVE, T_PENDING_ID_MUST_BE_ZERO, T_PENDING_ID_INVALID,
    T_PENDING_ID_MUST_BE_DIFFERENT, T_TIMEOUT_RESERVED_FOR_PENDING_TRANSFER,
    T_DEBIT_ACCOUNT_ID_INVALID, T_CREDIT_ACCOUNT_ID_INVALID, T_ACCOUNTS_MUST_BE_DIFFERENT,
    T_AMOUNT_MUST_NOT_BE_ZERO, T_AMOUNT_TOO_LARGE, T_LEDGER_MUST_NOT_BE_ZERO,
    T_CODE_MUST_NOT_BE_ZERO, T_ACCOUNT_NOT_FOUND, T_LEDGER_MISMATCH,
    T_PENDING_NOT_FOUND, T_PENDING_TRANSFER_NOT_PENDING,
    T_PENDING_TRANSFER_HAS_DIFFERENT_FIELDS, T_EXCEEDS_PENDING_AMOUNT,
    T_EXISTS_WITH_DIFFERENT_FIELDS, T_EXISTS, T_PENDING_ALREADY_POSTED,
    T_PENDING_ALREADY_VOIDED, T_PENDING_EXPIRED, T_ACCOUNT_FROZEN, T_CATEGORY_NOT_ALLOWED,
    T_OVERFLOWS_BALANCE, T_OVERFLOWS_TIMEOUT, T_EXCEEDS_CREDITS, T_EXCEEDS_DEBITS,
    T_HOLDING_LIMIT_EXCEEDED
};

/* ---- open-addressing hash index: pairs of (key, value), key 0 = empty slot ---- */

typedef struct {
    uint64_t *slots; /* 2 * capacity words */
    uint64_t mask;   /* capacity - 1; capacity is a power of two */
} index_t;

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* Keys that differ only in their low 6 bits land in neighbouring slots: ids issued in
 * sequence then share cache lines and pages, while the high bits are mixed so that no
 * pattern of ids can pile up in one place. (Index capacity is always >= 1024.) */
static inline uint64_t index_home(const index_t *ix, uint64_t key) {
    return ((mix64(key >> 6) << 6) | (key & 63)) & ix->mask;
}

static inline void prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

static inline int64_t index_find(const index_t *ix, uint64_t key) {
    uint64_t i = index_home(ix, key);
    for (;;) {
        uint64_t k = ix->slots[2 * i];
        if (k == key) return (int64_t)ix->slots[2 * i + 1];
        if (k == 0) return -1;
        i = (i + 1) & ix->mask;
    }
}

static inline void index_insert(index_t *ix, uint64_t key, uint64_t value) {
    uint64_t i = index_home(ix, key);
    while (ix->slots[2 * i] != 0) i = (i + 1) & ix->mask;
    ix->slots[2 * i] = key;
    ix->slots[2 * i + 1] = value;
}

/* Removes the most recently inserted key. Safe with linear probing only in that case:
 * no key inserted earlier can have probed past this slot, because it was empty then. */
static inline void index_remove_latest(index_t *ix, uint64_t key) {
    uint64_t i = index_home(ix, key);
    while (ix->slots[2 * i] != key) i = (i + 1) & ix->mask;
    ix->slots[2 * i] = 0;
    ix->slots[2 * i + 1] = 0;
}

/* ---- expiry heap of (expires_at, transfer index); stale entries are skipped on pop ---- */

typedef struct {
    uint64_t *items; /* 2 words per entry */
    int64_t size;
} heap_t;

static inline int heap_less(const uint64_t *a, const uint64_t *b) {
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

static void heap_push(heap_t *h, uint64_t expires_at, uint64_t index) {
    int64_t i = h->size++;
    h->items[2 * i] = expires_at;
    h->items[2 * i + 1] = index;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!heap_less(&h->items[2 * i], &h->items[2 * parent])) break;
        uint64_t t0 = h->items[2 * i], t1 = h->items[2 * i + 1];
        h->items[2 * i] = h->items[2 * parent]; h->items[2 * i + 1] = h->items[2 * parent + 1];
        h->items[2 * parent] = t0; h->items[2 * parent + 1] = t1;
        i = parent;
    }
}

static void heap_pop(heap_t *h) {
    int64_t n = --h->size;
    h->items[0] = h->items[2 * n];
    h->items[1] = h->items[2 * n + 1];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && heap_less(&h->items[2 * l], &h->items[2 * m])) m = l;
        if (r < n && heap_less(&h->items[2 * r], &h->items[2 * m])) m = r;
        if (m == i) break;
        uint64_t t0 = h->items[2 * i], t1 = h->items[2 * i + 1];
        h->items[2 * i] = h->items[2 * m]; h->items[2 * i + 1] = h->items[2 * m + 1];
        h->items[2 * m] = t0; h->items[2 * m + 1] = t1;
        i = m;
    }
}

#endif
