/*
 * version.c - `--version` for every binary (see mm/version.h): the
 * manymodels version from the build, the git revision written at build time
 * by cmake/git_revision.cmake, and the libraries' versions as they report
 * them at run time (the shared object actually loaded), or, for a library
 * with no such call, the version compiled against.
 *
 * Workload: once per process, on request.
 */
#include "mm/version.h"

#include <dlfcn.h>
#include <mm_git_revision.h> /* generated in the build tree: MM_GIT_REVISION */
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <microhttpd.h>
#include <nlopt.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <xgboost/c_api.h>

#ifndef MM_VERSION_STRING
#error "MM_VERSION_STRING must be defined by the build (the project version)"
#endif
#ifndef MM_AVRO_C_VERSION
#define MM_AVRO_C_VERSION "unknown"
#endif

const char *mm_version(void) {
    return MM_VERSION_STRING;
}

const char *mm_version_git_revision(void) {
    return MM_GIT_REVISION;
}

bool mm_version_requested(int argc, char **argv) {
    for (int i = 1; i < argc && argv[i]; i++) {
        if (strcmp(argv[i], "--") == 0) return false;
        if (strcmp(argv[i], "--version") == 0) return true;
    }
    return false;
}

/* The BLAS and LAPACK in use are chosen by the system (Debian alternatives), so they are
 * asked at run time, if they answer at all. */
static void print_blas_lapack(FILE *out) {
    void *sym = dlsym(RTLD_DEFAULT, "openblas_get_config");
    if (sym) {
        char *(*config)(void);
        memcpy(&config, &sym, sizeof(config));
        const char *text = config();
        fprintf(out, "  openblas %s\n", text ? text : "(no configuration string)");
    }
    sym = dlsym(RTLD_DEFAULT, "ilaver_");
    if (sym) {
        void (*ilaver)(int *, int *, int *);
        memcpy(&ilaver, &sym, sizeof(ilaver));
        int major = 0, minor = 0, patch = 0;
        ilaver(&major, &minor, &patch);
        fprintf(out, "  lapack %d.%d.%d\n", major, minor, patch);
    }
}

int mm_version_print(const char *program, FILE *out) {
    fprintf(out, "%s %s (git %s)\n", program ? program : "manymodels", mm_version(),
            mm_version_git_revision());
    fprintf(out, "  librdkafka %s\n", rd_kafka_version_str());
    const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
    fprintf(out, "  libcurl %s (%s)\n", curl && curl->version ? curl->version : "unknown",
            curl && curl->ssl_version ? curl->ssl_version : "no TLS");
    fprintf(out, "  openssl %s\n", OpenSSL_version(OPENSSL_VERSION));
    fprintf(out, "  sqlite %s\n", sqlite3_libversion());
    fprintf(out, "  avro-c %s (compiled against)\n", MM_AVRO_C_VERSION);
    fprintf(out, "  jansson %s\n", jansson_version_str());
    const char *mhd = MHD_get_version();
    fprintf(out, "  libmicrohttpd %s\n", mhd ? mhd : "unknown");
    int major = 0, minor = 0, patch = 0;
    XGBoostVersion(&major, &minor, &patch);
    fprintf(out, "  xgboost %d.%d.%d\n", major, minor, patch);
    nlopt_version(&major, &minor, &patch);
    fprintf(out, "  nlopt %d.%d.%d\n", major, minor, patch);
    print_blas_lapack(out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
