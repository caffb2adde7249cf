/*
 * test_kafka_topics.c - unit tests of common/src/kafka_topics.c: the topic
 * prefix (validation, logical -> cluster names and back) and the catalogue
 * of a deployment's topics. No broker.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "mm/kafka.h"

static char errstr[512];

Test(kafka_topics, without_a_prefix_names_are_unchanged) {
    char name[256];
    cr_assert_eq(mm_kafka_set_topic_prefix(NULL, errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(mm_kafka_topic_prefix(), "");
    cr_assert_eq(
        mm_kafka_topic_name(MM_TOPIC_DECISIONS, name, sizeof(name), errstr, sizeof(errstr)), MM_OK);
    cr_expect_str_eq(name, "mm.decisions");
    cr_expect_str_eq(mm_kafka_topic_logical("mm.decisions"), "mm.decisions");
}

Test(kafka_topics, a_prefix_goes_before_every_name_and_is_taken_off_again) {
    char name[256];
    cr_assert_eq(mm_kafka_set_topic_prefix("retail-eu.", errstr, sizeof(errstr)), MM_OK, "%s",
                 errstr);
    cr_assert_eq(
        mm_kafka_topic_name(MM_TOPIC_OBSERVATIONS, name, sizeof(name), errstr, sizeof(errstr)),
        MM_OK);
    cr_expect_str_eq(name, "retail-eu.mm.observations");
    cr_assert_eq(mm_kafka_topic_name("mm-trainer", name, sizeof(name), errstr, sizeof(errstr)),
                 MM_OK);
    cr_expect_str_eq(name, "retail-eu.mm-trainer", "group ids get it too");
    cr_expect_str_eq(mm_kafka_topic_logical("retail-eu.mm.observations"), "mm.observations");
    /* A name without the prefix (another deployment's) is reported as it is. */
    cr_expect_str_eq(mm_kafka_topic_logical("mm.observations"), "mm.observations");
    cr_expect_str_eq(mm_kafka_topic_logical("retail-eu."), "retail-eu.", "nothing after it");
}

Test(kafka_topics, a_prefix_kafka_cannot_name_is_a_configuration_error_that_says_why) {
    cr_assert_eq(mm_kafka_set_topic_prefix("ok.", errstr, sizeof(errstr)), MM_OK);
    cr_expect_eq(mm_kafka_set_topic_prefix("retail/eu.", errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_expect(strstr(errstr, "'/'") != NULL, "%s", errstr);
    char longer[MM_KAFKA_TOPIC_PREFIX_MAX + 2];
    memset(longer, 'a', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    cr_expect_eq(mm_kafka_set_topic_prefix(longer, errstr, sizeof(errstr)), MM_ERR_CONFIG);
    cr_expect_str_eq(mm_kafka_topic_prefix(), "ok.", "a refused prefix leaves the old one");
}

Test(kafka_topics, a_name_longer_than_kafka_allows_is_refused) {
    char prefix[MM_KAFKA_TOPIC_PREFIX_MAX + 1];
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    cr_assert_eq(mm_kafka_set_topic_prefix(prefix, errstr, sizeof(errstr)), MM_OK);
    char topic[200], name[512];
    memset(topic, 't', sizeof(topic) - 1);
    topic[sizeof(topic) - 1] = '\0';
    cr_expect_eq(mm_kafka_topic_name(topic, name, sizeof(name), errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
    cr_expect(strstr(errstr, "249") != NULL, "%s", errstr);
    cr_expect_eq(mm_kafka_topic_name("", name, sizeof(name), errstr, sizeof(errstr)),
                 MM_ERR_INVALID_ARG);
}

Test(kafka_topics, the_catalogue_compacts_decisions_and_keeps_the_others_for_a_while) {
    size_t n = 0;
    const mm_kafka_topic_spec_t *specs = mm_kafka_topic_specs(&n);
    cr_assert_eq(n, 6);
    int compacted = 0;
    for (size_t i = 0; i < n; i++) {
        if (specs[i].compacted) {
            compacted++;
            cr_expect_str_eq(specs[i].topic, MM_TOPIC_DECISIONS);
        } else {
            cr_expect_geq(specs[i].retention_ms, 24LL * 3600 * 1000, "%s", specs[i].topic);
        }
    }
    cr_expect_eq(compacted, 1);
}
