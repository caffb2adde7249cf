/*
 * test_sha256.c - SHA-256 against the NIST FIPS 180-2 examples, HMAC-SHA256
 * against RFC 4231, base64 against RFC 4648 (see common/src/sha256.c).
 */
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "mm/sha256.h"
#include "mm/util.h"

static void expect_hex(const char *data, size_t len, const char *want) {
    char hex[MM_SHA256_HEX_LEN + 1];
    mm_sha256_hex(data, len, hex);
    cr_expect_str_eq(hex, want, "sha256 of %zu bytes", len);
}

Test(sha256, matches_nist_examples) {
    expect_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect_hex(two_blocks, strlen(two_blocks),
               "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, million_a_matches_nist_in_one_call_and_incrementally) {
    size_t n = 1000000;
    char *a = malloc(n);
    cr_assert_not_null(a);
    memset(a, 'a', n);
    const char *want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    expect_hex(a, n, want);

    /* Uneven chunks cross block boundaries at odd offsets. */
    mm_sha256_ctx_t *ctx = mm_sha256_new();
    cr_assert_not_null(ctx);
    size_t off = 0, step = 1;
    while (off < n) {
        size_t k = step < n - off ? step : n - off;
        mm_sha256_update(ctx, a + off, k);
        off += k;
        step = step * 3 + 1;
    }
    char hex[MM_SHA256_HEX_LEN + 1];
    mm_sha256_final_hex(ctx, hex);
    cr_expect_str_eq(hex, want);
    free(a);
}

Test(sha256, raw_digest_agrees_with_hex_digest) {
    uint8_t raw[MM_SHA256_LEN];
    char hex[MM_SHA256_HEX_LEN + 1];
    mm_sha256("abc", 3, raw);
    mm_hex(raw, sizeof(raw), hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void expect_hmac(const void *key, size_t key_len, const char *data, const char *want) {
    uint8_t mac[MM_SHA256_LEN];
    char hex[2 * MM_SHA256_LEN + 1];
    mm_hmac_sha256(key, key_len, data, strlen(data), mac);
    mm_hex(mac, sizeof(mac), hex);
    cr_expect_str_eq(hex, want, "HMAC of \"%s\"", data);
}

Test(hmac_sha256, matches_rfc4231_test_cases_1_2_and_6) {
    uint8_t key1[20];
    memset(key1, 0x0b, sizeof(key1));
    expect_hmac(key1, sizeof(key1), "Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    expect_hmac("Jefe", 4, "what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Case 6: a key longer than the block size is hashed first. */
    uint8_t key6[131];
    memset(key6, 0xaa, sizeof(key6));
    expect_hmac(key6, sizeof(key6), "Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

Test(base64, encodes_rfc4648_vectors_with_padding) {
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(plain); i++) {
        char *enc = mm_base64_encode((const uint8_t *)plain[i], strlen(plain[i]));
        cr_assert_not_null(enc);
        cr_expect_str_eq(enc, coded[i]);
        free(enc);
    }
}

Test(base64, decode_strips_padding_and_round_trips_every_length) {
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < MM_ARRAY_SIZE(coded); i++) {
        size_t len = 99;
        uint8_t *dec = mm_base64_decode(coded[i], &len);
        cr_assert_not_null(dec, "decode %s", coded[i]);
        cr_expect_eq(len, i, "decoded length of %s", coded[i]);
        cr_expect(memcmp(dec, "foobar", len) == 0);
        free(dec);
    }
    /* Every byte value, every length up to 70: decode(encode(x)) == x. */
    uint8_t bytes[70];
    for (size_t i = 0; i < sizeof(bytes); i++) bytes[i] = (uint8_t)(i * 37 + 255);
    for (size_t n = 0; n <= sizeof(bytes); n++) {
        char *enc = mm_base64_encode(bytes, n);
        cr_assert_not_null(enc);
        size_t len = 0;
        uint8_t *dec = mm_base64_decode(enc, &len);
        cr_assert_not_null(dec);
        cr_expect_eq(len, n);
        cr_expect(n == 0 || memcmp(dec, bytes, n) == 0, "round trip of %zu bytes", n);
        free(enc);
        free(dec);
    }
}

Test(base64, decode_rejects_invalid_input) {
    static const char *const bad[] = {
        "Zg=",                /* not a multiple of 4 */
        "Zg=a",               /* padding in the middle */
        "Z===",               /* three pad characters */
        "====",               /* nothing but padding */
        "Zm9v!A==",           /* outside the alphabet */
        " Zm9v",              /* whitespace (EVP_DecodeBlock alone would accept it) */
        "Zm9vYg==\n", "Zm-_", /* base64url alphabet */
    };
    for (size_t i = 0; i < MM_ARRAY_SIZE(bad); i++) {
        size_t len = 0;
        uint8_t *dec = mm_base64_decode(bad[i], &len);
        cr_expect_null(dec, "\"%s\" should be rejected", bad[i]);
        free(dec);
    }
    size_t len = 0;
    cr_expect_null(mm_base64_decode(NULL, &len));
}
