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

/* SipHash-1-3 of one 8-byte word (CPython's own hash for str and bytes), keyed with a
 * per-process random 128-bit secret: ids are chosen by clients, and with an unkeyed,
 * invertible mixer they could pick ids that share one slot for every table size. The
 * state words below are the key already folded into SipHash's initial constants. */
static uint64_t sip_v[4];

static inline void siphash_set_key(uint64_t k0, uint64_t k1) {
    sip_v[0] = k0 ^ 0x736f6d6570736575ULL;
    sip_v[1] = k1 ^ 0x646f72616e646f6dULL;
    sip_v[2] = k0 ^ 0x6c7967656e657261ULL;
    sip_v[3] = k1 ^ 0x7465646279746573ULL;
}

#define SIP_ROTL(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIP_ROUND                                                                         \
    do {                                                                                  \
        v0 += v1; v1 = SIP_ROTL(v1, 13); v1 ^= v0; v0 = SIP_ROTL(v0, 32);                 \
        v2 += v3; v3 = SIP_ROTL(v3, 16); v3 ^= v2;                                        \
        v0 += v3; v3 = SIP_ROTL(v3, 21); v3 ^= v0;                                        \
        v2 += v1; v1 = SIP_ROTL(v1, 17); v1 ^= v2; v2 = SIP_ROTL(v2, 32);                 \
    } while (0)

static inline uint64_t siphash13_u64(uint64_t m) {
    uint64_t v0 = sip_v[0], v1 = sip_v[1], v2 = sip_v[2], v3 = sip_v[3];
    const uint64_t last = 8ULL << 56; /* the message length in the top byte, no tail bytes */
    v3 ^= m; SIP_ROUND; v0 ^= m;
    v3 ^= last; SIP_ROUND; v0 ^= last;
    v2 ^= 0xff; SIP_ROUND; SIP_ROUND; SIP_ROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

#undef SIP_ROUND
#undef SIP_ROTL

/* Keys that differ only in their low 6 bits (a group of 64) land in one block of 64 slots,
 * in order: ids issued in sequence then share cache lines and pages. Which block, and
 * where in it the group starts, both come from the keyed hash of the group, so a client
 * cannot pile ids into one block, nor, by choosing ids with the same low bits, into a few
 * slots of every block. (Index capacity is always >= 1024.) */
static inline uint64_t index_hash_in_group(uint64_t key, uint64_t group_hash) {
    return (group_hash << 6) | ((key + (group_hash >> 58)) & 63);
}

static inline uint64_t index_hash(uint64_t key) { return index_hash_in_group(key, siphash13_u64(key >> 6)); }

static inline uint64_t index_home(const index_t *ix, uint64_t key) { return index_hash(key) & ix->mask; }

static inline void prefetch_write(const void *p) { __builtin_prefetch(p, 1, 3); }

/* The _hashed forms take index_hash(key), computed once where a key is used several times. */
static inline int64_t index_find_hashed(const index_t *ix, uint64_t key, uint64_t hash) {
    uint64_t i = hash & ix->mask;
    for (;;) {
        uint64_t k = ix->slots[2 * i];
        if (k == key) return (int64_t)ix->slots[2 * i + 1];
        if (k == 0) return -1;
        i = (i + 1) & ix->mask;
    }
}

static inline int64_t index_find(const index_t *ix, uint64_t key) {
    return index_find_hashed(ix, key, index_hash(key));
}

static inline void index_insert_hashed(index_t *ix, uint64_t key, uint64_t value, uint64_t hash) {
    uint64_t i = hash & ix->mask;
    while (ix->slots[2 * i] != 0) i = (i + 1) & ix->mask;
    ix->slots[2 * i] = key;
    ix->slots[2 * i + 1] = value;
}

static inline void index_insert(index_t *ix, uint64_t key, uint64_t value) {
    index_insert_hashed(ix, key, value, index_hash(key));
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
